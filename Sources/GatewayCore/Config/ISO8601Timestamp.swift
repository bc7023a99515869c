import Foundation

/// A strict ISO 8601 date-time reader for `expires`, which also takes the forms YAML
/// writes a timestamp in (PyYAML hands LiteLLM a `datetime` for them):
///
/// - `2027-01-31` (midnight UTC)
/// - `2027-01-31T09:00:00`, `2027-01-31t09:00:00` or `2027-01-31 09:00:00`
/// - an optional fraction: `09:00:00.250`
/// - an optional zone, after optional spaces: `Z`, `+02:00`, `+0200` or `+02`
///
/// No zone means UTC. Every field is range-checked: month 1–12, the day against its
/// month (29 February only in a leap year), hour 0–23, minute and second 0–59. A leap
/// second (`:60`) is refused rather than rounded: a date that needs one is no more
/// useful as an expiry than the second before or after it, and saying which was meant
/// is the writer's job.
package enum ISO8601Timestamp {
    /// The instant `text` names, or `nil` when it is not one of the forms above.
    package static func parse(_ text: String) -> Date? {
        var reader = Reader(bytes: Array(text.utf8))
        guard let year = reader.digits(4), year >= 1, reader.take(UInt8(ascii: "-")),
            let month = reader.digits(2), (1...12).contains(month), reader.take(UInt8(ascii: "-")),
            let day = reader.digits(2), (1...daysIn(month: month, year: year)).contains(day)
        else { return nil }
        let days = daysSinceEpoch(year: year, month: month, day: day)
        if reader.atEnd { return Date(timeIntervalSince1970: Double(days) * 86_400) }

        guard let separator = reader.next(),
            separator == UInt8(ascii: "T") || separator == UInt8(ascii: "t")
                || separator == UInt8(ascii: " ")
        else { return nil }
        guard let hour = reader.digits(2), hour <= 23, reader.take(UInt8(ascii: ":")),
            let minute = reader.digits(2), minute <= 59, reader.take(UInt8(ascii: ":")),
            let second = reader.digits(2), second <= 59
        else { return nil }
        var fraction = 0.0
        if reader.take(UInt8(ascii: ".")) {
            guard let digits = reader.digitRun(), digits.count <= 30 else { return nil }
            fraction = Double("0." + String(decoding: digits, as: UTF8.self)) ?? 0
        }
        var spaced = false
        while reader.take(UInt8(ascii: " ")) { spaced = true }
        guard !(spaced && reader.atEnd), let offset = reader.zoneOffset(), reader.atEnd else { return nil }
        let seconds = Double(days) * 86_400 + Double(hour * 3600 + minute * 60 + second) + fraction - Double(offset)
        return Date(timeIntervalSince1970: seconds)
    }

    static func isLeapYear(_ year: Int) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days from 1970-01-01 to the given date of the proleptic Gregorian calendar
    /// (Howard Hinnant's `days_from_civil`).
    static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private struct Reader {
        let bytes: [UInt8]
        var index = 0

        var atEnd: Bool { index == bytes.count }

        mutating func next() -> UInt8? {
            guard index < bytes.count else { return nil }
            defer { index += 1 }
            return bytes[index]
        }

        mutating func take(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        /// Exactly `count` ASCII digits as a number.
        mutating func digits(_ count: Int) -> Int? {
            guard bytes.count - index >= count else { return nil }
            var value = 0
            for byte in bytes[index..<index + count] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            index += count
            return value
        }

        /// One or more digits.
        mutating func digitRun() -> ArraySlice<UInt8>? {
            let start = index
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                index += 1
            }
            return index > start ? bytes[start..<index] : nil
        }

        /// Seconds east of UTC: none or `Z` is 0, else `±HH`, `±HH:MM` or `±HHMM`.
        mutating func zoneOffset() -> Int? {
            if atEnd || take(UInt8(ascii: "Z")) || take(UInt8(ascii: "z")) { return 0 }
            let sign: Int
            if take(UInt8(ascii: "+")) {
                sign = 1
            } else if take(UInt8(ascii: "-")) {
                sign = -1
            } else {
                return nil
            }
            guard let hours = digits(2), hours <= 23 else { return nil }
            var minutes = 0
            if !atEnd {
                _ = take(UInt8(ascii: ":"))
                guard let value = digits(2), value <= 59 else { return nil }
                minutes = value
            }
            return sign * (hours * 3600 + minutes * 60)
        }
    }
}
