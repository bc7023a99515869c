import FCGIPassThrough
import Foundation

exit(GatewayProcess.run(arguments: Array(CommandLine.arguments.dropFirst())).rawValue)
