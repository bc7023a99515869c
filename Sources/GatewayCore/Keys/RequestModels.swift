import Foundation

/// The models a request asks for, as a key's `models` list is checked against them:
/// the JSON body's top-level `model`, and the `models/{model}` path segment Gemini and
/// Vertex use (`…/models/gemini-1.5-pro:generateContent`). A request may name both;
/// every model it names must be allowed.
enum RequestModels {
    /// Why the models could not be told; the text goes into the 403.
    struct Unknown: Error, Equatable {
        var reason: String
    }

    static func named(path: RequestPath, headers: HTTPHeaders, body: Data) -> Result<[String], Unknown> {
        var models = pathModels(path)
        if !body.isEmpty {
            if let encoding = headers["content-encoding"].map({ String(HTTPSyntax.trimmingWhitespace($0)) }),
                !encoding.isEmpty, !encoding.caseInsensitiveEquals("identity")
            {
                return .failure(Unknown(reason: "the request body is content-encoded, so its model cannot be read"))
            }
            switch JSONTopLevelField.string(named: "model", in: body) {
            case .found(let model): models.append(model)
            case .absent: break
            case .unreadable:
                // A body that is not JSON (an upload) simply names no model; a JSON body
                // whose model cannot be read unambiguously must not be waved through.
                if looksLikeJSON(body) {
                    return .failure(Unknown(reason: "the request body's `model` is not a single string in a JSON object"))
                }
            }
        }
        guard !models.isEmpty else { return .failure(Unknown(reason: "the request names no model")) }
        return .success(models)
    }

    /// The one model a request is metered under: the body's `model`, else the first
    /// `models/{model}` path segment; `nil` when it names none it can be read from.
    static func metered(path: RequestPath, headers: HTTPHeaders, body: Data) -> String? {
        let encoded =
            headers["content-encoding"].map {
                let coding = String(HTTPSyntax.trimmingWhitespace($0))
                return !coding.isEmpty && !coding.caseInsensitiveEquals("identity")
            } ?? false
        if !body.isEmpty, !encoded, case .found(let model) = JSONTopLevelField.string(named: "model", in: body) {
            return model
        }
        return pathModels(path).first
    }

    /// The segment after each `models` segment, up to a `:action` suffix.
    static func pathModels(_ path: RequestPath) -> [String] {
        let segments = path.decodedSegments
        var models: [String] = []
        for (index, segment) in segments.enumerated() where segment == "models" && index + 1 < segments.count {
            let next = segments[index + 1]
            let model = next.firstIndex(of: ":").map { String(next[..<$0]) } ?? next
            if !model.isEmpty { models.append(model) }
        }
        return models
    }

    private static func looksLikeJSON(_ body: Data) -> Bool {
        body.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }).map { $0 == UInt8(ascii: "{") || $0 == UInt8(ascii: "[") } ?? false
    }
}
