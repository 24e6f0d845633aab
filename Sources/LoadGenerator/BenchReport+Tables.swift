extension BenchReport {
    /// One table as `pg_stat_user_tables` and `pg_total_relation_size` saw it.
    public struct TableReading: Sendable, Codable, Equatable {
        /// `n_live_tup`: an estimate.
        public var liveTuples: Int64
        /// `n_dead_tup`: rows deleted or updated and not yet vacuumed away (an estimate).
        public var deadTuples: Int64
        /// The table with its indexes and TOAST, in bytes.
        public var totalBytes: Int64
    }

    /// A table at the start of the window and after the settle time; a reading is nil when
    /// the table did not exist.
    public struct Table: Sendable, Codable, Equatable {
        /// Schema-qualified, e.g. `bus.messages`.
        public var name: String
        public var before: TableReading?
        public var after: TableReading?
    }

    /// The "Tables" section of the text report; empty when there are no readings.
    var tablesText: [String] {
        guard !tables.isEmpty else { return [] }
        func cell(_ value: KeyPath<TableReading, Int64>, _ format: (Int64) -> String, _ table: Table) -> String {
            (table.before.map { format($0[keyPath: value]) } ?? "n/a") + " → " + (table.after.map { format($0[keyPath: value]) } ?? "n/a")
        }
        let header = ["live before→after", "dead before→after", "size before→after"]
        let rows = tables.map { table in
            [cell(\.liveTuples, String.init, table), cell(\.deadTuples, String.init, table), cell(\.totalBytes, byteCount, table)]
        }
        let nameWidth = max(tables.map(\.name.count).max() ?? 0, 5)
        let widths = header.indices.map { column in max(header[column].count, rows.map { $0[column].count }.max() ?? 0) }
        var lines = ["Tables, start of the window → after settle (pg_stat_user_tables estimates; size with indexes)"]
        lines.append("  " + pad("table", nameWidth, left: true) + zip(header, widths).map { "   " + pad($0, $1) }.joined())
        for (table, row) in zip(tables, rows) {
            lines.append("  " + pad(table.name, nameWidth, left: true) + zip(row, widths).map { "   " + pad($0, $1) }.joined())
        }
        return lines
    }
}

/// `bytes` in binary units as PostgreSQL names them: `512 bytes`, `8.0 kB`, `153.2 MB`, `1.5 GB`.
func byteCount(_ bytes: Int64) -> String {
    let units = ["kB", "MB", "GB", "TB"]
    guard bytes >= 1024 || bytes <= -1024 else { return "\(bytes) bytes" }
    var value = Double(bytes) / 1024
    var unit = 0
    // 1023.95 and above would print as 1024.0: move to the next unit.
    while abs(value) >= 1023.95, unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return number(value, 1) + " " + units[unit]
}
