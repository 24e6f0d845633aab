import Foundation
import Hummingbird
@testable import HTTPAPI
import Testing

/// Text fields and the bearer scheme, read without Foundation's bridging.
@Suite("Text fields")
struct TextFieldTests {
    @Test(arguments: [
        "", " ", "\t", "  \t ", "name", " name", "name ", "\tname\t", "  two words  ", "\u{00A0}nbsp\u{3000}",
        "\u{2003}em\u{202F}", "new\nline", "\nname\n", " \r ", "é ", " 🎟️ ", "\u{200B}zero-width\u{200B}", "\u{1680}",
    ])
    func blanksAreTrimmedAsFoundationTrimsWhitespaces(_ text: String) {
        #expect(TextField.trimmingBlanks(text) == text.trimmingCharacters(in: .whitespaces))
        #expect(TextField.trimmingBlanks(Substring(text)) == text.trimmingCharacters(in: .whitespaces))
    }

    @Test func everyScalarIsABlankExactlyWhenFoundationSaysSo() {
        for value in UInt32(0)...0x2FFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            let text = "x\(Character(scalar))x"
            let padded = "\(Character(scalar))x\(Character(scalar))"
            #expect(TextField.trimmingBlanks(padded) == padded.trimmingCharacters(in: .whitespaces), "U+\(String(value, radix: 16))")
            #expect(TextField.trimmingBlanks(text) == text)
        }
    }

    @Test func aBlankFieldIsRefusedAndAFilledOneTrimmed() throws {
        #expect(throws: Problem.self) { try TextField.validated(" \t\u{00A0}", field: "name", maximum: 10) }
        #expect(throws: Problem.self) { try TextField.validated(nil, field: "name", maximum: 10) }
        #expect(try TextField.validated("  Ada  ", field: "name", maximum: 3) == "Ada")
    }

    @Test func theBearerSchemeIsMatchedInAnyCase() {
        for header in ["Bearer x", "bearer x", "BEARER x", "bEaReR x", "Bearer "] {
            #expect(RequireRole<BasicRequestContext>.startsWithBearer(header), "\(header)")
        }
        for header in ["Basic x", "Bearer", "Bearerx", "Bearer\tx", "", "Bear er x", "Bearer\u{0}x"] {
            #expect(!RequireRole<BasicRequestContext>.startsWithBearer(header), "\(header)")
        }
    }
}
