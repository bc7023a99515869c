/// Rows waiting for the writer, oldest first, bounded: past `capacity` the oldest go, so
/// a database that stays unwritable costs bounded memory and the newest rows survive.
///
/// Taking from the front moves an index rather than the elements: dropping the oldest on
/// every `record` while the database is down must not cost a copy of the whole queue.
struct RowQueue {
    let capacity: Int
    private var rows: [SpendRow] = []
    private var head = 0

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    var count: Int { rows.count - head }

    /// Appends `row`; returns how many of the oldest were dropped to make room (0 or 1).
    mutating func append(_ row: SpendRow) -> Int {
        rows.append(row)
        guard count > capacity else { return 0 }
        head += 1
        compactIfWorthIt()
        return 1
    }

    /// Removes and returns up to `limit` of the oldest rows.
    mutating func take(_ limit: Int) -> [SpendRow] {
        let taken = Array(rows[head..<head + min(limit, count)])
        head += taken.count
        compactIfWorthIt()
        return taken
    }

    /// Puts a batch that could not be written back in front, still in order; returns how
    /// many of the oldest were dropped because rows arrived meanwhile and the queue is full.
    mutating func putBack(_ batch: [SpendRow]) -> Int {
        let room = max(0, capacity - count)
        let kept = batch.suffix(room)
        if head >= kept.count {
            head -= kept.count
            rows.replaceSubrange(head..<head + kept.count, with: kept)
        } else {
            rows.replaceSubrange(head..<head, with: kept)
        }
        return batch.count - kept.count
    }

    /// Gives back the slots in front of `head` once they are the larger part.
    private mutating func compactIfWorthIt() {
        if head == rows.count {
            rows.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1024, head * 2 >= rows.count {
            rows.removeFirst(head)
            head = 0
        }
    }
}
