import Database
import Testing

@Suite("Composing statements from parts")
struct StatementPartTests {
    @Test func parametersMoveUpByTheOffset() {
        let sql = "SELECT $1::uuid[], $2, $10 FROM t WHERE a = $1 AND b = '$' || $3"
        #expect(StatementPart.renumbering(sql, by: 9) == "SELECT $10::uuid[], $11, $19 FROM t WHERE a = $10 AND b = '$' || $12")
        #expect(StatementPart.renumbering(sql, by: 0) == sql)
    }
}
