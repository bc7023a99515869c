import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

@Suite struct EnvReferenceTests {
    let environment = Environment([
        "COHERE_API_KEY": "co-1", "A": "alpha", "B": "beta", "_X1": "x", "EMPTY": "",
        "CR": "a\rb", "LF": "a\nb", "NUL": "a\u{0}b", "DEL": "a\u{7F}b", "TAB": "a\tb", "UNICODE": "clé",
    ])

    private func resolve(_ text: String) -> EnvReference.Outcome {
        EnvReference.resolve(text, in: environment)
    }

    @Test func textWithoutReferencesIsUnchanged() {
        #expect(resolve("application/json") == .resolved("application/json", names: []))
        #expect(resolve("") == .resolved("", names: []))
        #expect(resolve("os.environ") == .resolved("os.environ", names: []))
    }

    @Test func wholeEmbeddedAndRepeatedReferences() {
        #expect(resolve("os.environ/COHERE_API_KEY") == .resolved("co-1", names: ["COHERE_API_KEY"]))
        #expect(resolve("bearer os.environ/COHERE_API_KEY") == .resolved("bearer co-1", names: ["COHERE_API_KEY"]))
        #expect(resolve("os.environ/A:os.environ/B") == .resolved("alpha:beta", names: ["A", "B"]))
        // Read as one variable named `Aos`, then the text `.environ/B`.
        #expect(resolve("os.environ/Aos.environ/B") == .failed([.unset("Aos")]))
        #expect(resolve("x-os.environ/A-os.environ/A.") == .resolved("x-alpha-alpha.", names: ["A", "A"]))
        #expect(resolve("https://os.environ/_X1/path") == .resolved("https://x/path", names: ["_X1"]))
    }

    /// The name ends at the first character outside `[A-Za-z0-9_]`, unlike LiteLLM,
    /// which takes the rest of the string as the name.
    @Test func nameEndsAtTheFirstNonNameCharacter() {
        #expect(resolve("Bearer os.environ/A; extra") == .resolved("Bearer alpha; extra", names: ["A"]))
        #expect(resolve("os.environ/A\u{301}") == .resolved("alpha\u{301}", names: ["A"]))
    }

    @Test func unsetAndEmptyVariablesAreProblems() {
        #expect(resolve("bearer os.environ/MISSING") == .failed([.unset("MISSING")]))
        #expect(
            resolve("os.environ/MISSING:os.environ/EMPTY:os.environ/A")
                == .failed([.unset("MISSING"), .empty("EMPTY")]))
    }

    @Test func controlCharactersInValuesAreProblemsButTabIsAllowed() {
        for name in ["CR", "LF", "NUL", "DEL"] {
            #expect(resolve("os.environ/\(name)") == .failed([.controlCharacter(name)]))
        }
        #expect(resolve("os.environ/TAB") == .resolved("a\tb", names: ["TAB"]))
        #expect(resolve("os.environ/UNICODE") == .resolved("clé", names: ["UNICODE"]))
    }

    @Test func prefixWithoutANameIsAProblem() {
        #expect(resolve("os.environ/") == .failed([.malformed]))
        #expect(resolve("os.environ/1ABC") == .failed([.malformed]))
        #expect(resolve("os.environ/-A") == .failed([.malformed]))
    }

    @Test func messagesNameTheVariableOnly() {
        #expect(EnvReference.Problem.unset("K").message == "environment variable K is not set")
        #expect(EnvReference.Problem.empty("K").message == "environment variable K is empty")
        #expect(
            EnvReference.Problem.controlCharacter("K").message
                == "environment variable K contains a control character (CR, LF, NUL or similar)")
    }

    @Test func variableNames() {
        for name in ["A", "_", "_A1", "COHERE_API_KEY", "a"] { #expect(ConfigSyntax.isVariableName(name)) }
        for name in ["", "1A", "A-B", "A B", "É"] { #expect(!ConfigSyntax.isVariableName(name)) }
    }
}
