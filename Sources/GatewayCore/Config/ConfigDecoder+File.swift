/// The top level of `config.yaml`: `environment_variables`, `general_settings`, and
/// every other LiteLLM section, which is accepted and ignored.
extension ConfigDecoder {
    /// - Parameter root: the file's YAML tree; `nil` for a file with no document.
    /// - Returns: the config, or `nil` when the tree is not a config file at all (the
    ///   problem is recorded). A non-nil result is valid only without problems.
    package mutating func decodeFile(_ root: YAMLNode?) -> GatewayConfig? {
        // An empty file has no endpoints: only the built-in health routes.
        guard let root, !root.isNull else {
            return GatewayConfig(masterKey: masterKeyFromEnvironment())
        }
        guard case .mapping = root.kind else {
            problem(
                "the file must be a YAML mapping with sections such as general_settings:, not \(root.kindDescription)",
                at: "", line: root.line)
            return nil
        }
        guard let sections = entries(of: root, at: "") else { return nil }

        // LiteLLM puts these into os.environ before anything else reads the config,
        // so they apply to every reference, whatever the order of sections in the file.
        if let variables = sections.first(where: { $0.key == "environment_variables" }) {
            decodeEnvironmentVariables(variables.value)
        }

        var config = GatewayConfig()
        var general: Entry?
        var ignored: [Entry] = []
        for section in sections {
            switch section.key {
            case "environment_variables": break
            case "general_settings": general = section
            default: ignored.append(section)
            }
        }
        if !ignored.isEmpty {
            let names = ignored.map {
                ConfigSyntax.displayKey($0.key)
                    + KeySuggestion.hint(for: $0.key, among: ["general_settings", "environment_variables"])
            }
            notice("ignored sections this gateway does not use: \(names.joined(separator: ", "))", at: "", line: nil)
        }

        if let general, !general.value.isNull {
            decodeGeneralSettings(general.value, line: general.line, into: &config)
        } else {
            config.masterKey = masterKeyFromEnvironment()
        }
        config.secrets = secrets.sorted()
        if config.masterKey == nil, config.endpoints.contains(where: \.auth) {
            notice(
                "no master_key and LITELLM_MASTER_KEY is not set: every endpoint is public, no client key is checked",
                at: "", line: nil)
        }
        return config
    }

    /// `environment_variables: {NAME: value}`. Values may themselves reference the
    /// process environment (`os.environ/OTHER`), resolved against it as it was injected.
    private mutating func decodeEnvironmentVariables(_ node: YAMLNode) {
        guard !node.isNull, let entries = entries(of: node, at: "environment_variables") else { return }
        var overlay: [(String, String)] = []
        for entry in entries {
            let location = Self.join("environment_variables", entry.key)
            guard ConfigSyntax.isVariableName(entry.key) else {
                problem("is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)", at: location, line: entry.line)
                continue
            }
            guard let value = text(entry.value, at: location) else { continue }
            overlay.append((entry.key, value.value))
        }
        // Applied after all are read, so one entry never sees another.
        for (name, value) in overlay { setVariable(name, value) }
    }
}
