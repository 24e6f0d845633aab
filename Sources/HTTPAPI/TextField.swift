import Foundation

/// Validation of free-text request fields.
enum TextField {
    /// The trimmed value of a required text field: not blank, at most `maximum` characters, and
    /// free of control characters (PostgreSQL cannot store NUL, and none belongs in a name).
    static func validated(_ value: String?, field: String, maximum: Int) throws -> String {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else {
            throw Problem.invalid(field, "is required and must not be blank")
        }
        guard value.count <= maximum else { throw Problem.invalid(field, "must be at most \(maximum) characters") }
        guard !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw Problem.invalid(field, "must not contain control characters")
        }
        return value
    }
}
