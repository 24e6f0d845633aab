import Foundation

// UUIDs as text, without Foundation's trips through `snprintf` and `sscanf`: every message
// carries several UUIDs in its JSON, and every saga transition writes a few more.

extension UUID {
    /// The 36-character uppercase form, the same text as `uuidString`
    /// (`E621E1F8-C36C-495A-93FC-0C247A3E6E5F`).
    public var text: String {
        withUnsafeBytes(of: uuid) { bytes in
            String(unsafeUninitializedCapacity: 36) { output in
                var position = 0
                for (index, byte) in bytes.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        output[position] = UInt8(ascii: "-")
                        position += 1
                    }
                    output[position] = hexDigits[Int(byte >> 4)]
                    output[position + 1] = hexDigits[Int(byte & 0x0F)]
                    position += 2
                }
                return position
            }
        }
    }

    /// Parses the 36-character form (`E621E1F8-C36C-495A-93FC-0C247A3E6E5F`, either case), as
    /// `UUID(uuidString:)` does.
    public init?(text: String) {
        var text = text
        let parsed: uuid_t? = text.withUTF8 { bytes -> uuid_t? in
            guard bytes.count == 36 else { return nil }
            var result: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            var position = 0
            let ok = withUnsafeMutableBytes(of: &result) { out -> Bool in
                for byteIndex in 0..<16 {
                    if position == 8 || position == 13 || position == 18 || position == 23 {
                        guard bytes[position] == UInt8(ascii: "-") else { return false }
                        position += 1
                    }
                    guard let high = hexValue(bytes[position]), let low = hexValue(bytes[position + 1]) else { return false }
                    out[byteIndex] = high << 4 | low
                    position += 2
                }
                return true
            }
            return ok ? result : nil
        }
        guard let parsed else { return nil }
        self.init(uuid: parsed)
    }
}

private let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)

/// The value of one hexadecimal digit, either case.
func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}
