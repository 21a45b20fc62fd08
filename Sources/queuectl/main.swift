import CLI

CLI.main(CommandLine.arguments)
