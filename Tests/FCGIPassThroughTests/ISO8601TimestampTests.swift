import Foundation
import Testing

@testable import GatewayCore

@Suite struct ISO8601TimestampTests {
    /// Seconds since 1970 of a UTC date-time, from Foundation's own calendar.
    static func utc(_ year: Int, _ month: Int, _ day: Int, _ hour: Int = 0, _ minute: Int = 0, _ second: Int = 0)
        -> Double
    {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let components = DateComponents(
            year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        return calendar.date(from: components)!.timeIntervalSince1970
    }

    static func seconds(_ text: String) -> Double? {
        ISO8601Timestamp.parse(text)?.timeIntervalSince1970
    }

    @Test func dateOnlyIsMidnightUTC() {
        #expect(Self.seconds("2027-01-31") == Self.utc(2027, 1, 31))
        #expect(Self.seconds("1970-01-01") == 0)
    }

    @Test func dateTimeFormsAreAccepted() {
        let expected = Self.utc(2027, 1, 31, 9, 30, 15)
        for text in [
            "2027-01-31T09:30:15", "2027-01-31t09:30:15", "2027-01-31 09:30:15", "2027-01-31T09:30:15Z",
            "2027-01-31T09:30:15z", "2027-01-31 09:30:15 Z", "2027-01-31T09:30:15+00:00", "2027-01-31T09:30:15-0000",
            "2027-01-31T09:30:15+00",
        ] {
            #expect(Self.seconds(text) == expected, "\(text)")
        }
    }

    @Test func zoneOffsetsMoveTheInstant() {
        let nine = Self.utc(2027, 1, 31, 9)
        #expect(Self.seconds("2027-01-31 09:00:00 +02:00") == nine - 7200)
        #expect(Self.seconds("2027-01-31T09:00:00+0200") == nine - 7200)
        #expect(Self.seconds("2027-01-31T09:00:00-05:30") == nine + 5 * 3600 + 1800)
        #expect(Self.seconds("2027-01-31T01:00:00+02:00") == Self.utc(2027, 1, 30, 23))
    }

    @Test func fractionsAreKept() {
        #expect(Self.seconds("2027-01-31T00:00:00.5Z") == Self.utc(2027, 1, 31) + 0.5)
        #expect(Self.seconds("2027-01-31 00:00:00.250 +01:00") == Self.utc(2027, 1, 30, 23) + 0.25)
    }

    @Test func leapDaysOnlyInLeapYears() {
        #expect(Self.seconds("2028-02-29") == Self.utc(2028, 2, 29))
        #expect(Self.seconds("2000-02-29T12:00:00Z") == Self.utc(2000, 2, 29, 12))
        #expect(Self.seconds("2027-02-29") == nil)
        #expect(Self.seconds("1900-02-29") == nil)
        #expect(Self.seconds("2100-02-29") == nil)
    }

    @Test func datesFarFromTheEpochAreRight() {
        #expect(Self.seconds("9999-12-31T23:59:59Z") == Self.utc(9999, 12, 31, 23, 59, 59))
        #expect(Self.seconds("1969-12-31T23:59:59Z") == -1)
        // Proleptic Gregorian (Foundation's calendar switches to Julian before 1582).
        #expect(Self.seconds("0001-01-01") == -62_135_596_800)
    }

    @Test func malformedOrOutOfRangeTextsAreRefused() {
        for text in [
            "", "2027", "2027-01", "2027-1-31", "2027-01-1", "27-01-31", "2027/01/31", "2027-00-10", "2027-13-01",
            "2027-04-31", "2027-01-32", "2027-01-00", "0000-01-01", "2027-01-31T", "2027-01-31T09:00",
            "2027-01-31T24:00:00", "2027-01-31T09:60:00", "2027-01-31T09:00:60", "2027-01-31T09:00:00.",
            "2027-01-31T09:00:00+2", "2027-01-31T09:00:00+24:00", "2027-01-31T09:00:00+02:60", "2027-01-31T09:00:00+02:",
            "2027-01-31T09:00:00 ", "2027-01-31T09:00:00ZZ", "2027-01-31T09:00:00 UTC", " 2027-01-31", "2027-01-31 ",
            "2027-01-31X09:00:00", "2027-01-31  09:00:00", "2027-01-31T09:00:00Z+01:00", "２027-01-31",
            "2027-01-31T09:00:00.1234567890123456789012345678901Z", "tomorrow",
        ] {
            #expect(ISO8601Timestamp.parse(text) == nil, "\(text)")
        }
    }
}
