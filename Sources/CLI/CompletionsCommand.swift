import ConfigManager
import JobManager
import QueueStorage

extension Commands {
    static let completions = CommandSpec(
        name: "completions",
        summary: "Print a completion script for bash, zsh or fish.",
        discussion: """
          The script completes commands, options, state names, config keys and the ids of the jobs in
          the queue (which it reads with 'queuectl completions --job-ids' as you press Tab). It is
          made from the same command descriptions as the help, so it always matches this queuectl.
          Load it for this shell with 'source <(queuectl completions bash)' (zsh: 'source
          <(queuectl completions zsh)' after compinit; fish: 'queuectl completions fish | source'),
          or install it with Scripts/install.sh.
        """,
        arguments: [ArgumentSpec(name: "shell", help: "bash, zsh or fish.", optional: true)],
        options: [.flag("job-ids", "Print the ids of the queue's jobs, one per line, for the scripts.")],
        run: runCompletions
    )

    static func runCompletions(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        let shell = args.positionals.first
        if args.has("job-ids") {
            guard shell == nil else { throw .usage("give a shell or --job-ids, not both") }
            let jobs = try context.read(.all).jobs
            for i in jobs.indices { context.print(jobs.summary(at: i).id) }
            return 0
        }
        let model = CompletionModel(root: root)
        switch shell {
        case nil: throw .usage("name the shell: \(CompletionModel.shells.joined(separator: ", "))")
        case "bash": context.print(model.bash())
        case "zsh": context.print(model.zsh())
        case "fish": context.print(model.fish())
        case let other?:
            let hint = closestMatch(other, among: CompletionModel.shells).map { " Did you mean '\($0)'?" } ?? ""
            throw .usage("no completions for shell '\(other)'.\(hint) Expected one of: \(CompletionModel.shells.joined(separator: ", "))")
        }
        return 0
    }
}

/// The command tree as completion scripts see it: each command by its path of names, what it takes,
/// and what kind of value each option and argument is. The kinds are read from the specs' own
/// names (an argument `<id>` is a job id, an option value `<state>` a state), so a command added
/// with the usual names completes without being listed here.
struct CompletionModel {
    static let shells = ["bash", "zsh", "fish"]

    enum Kind: String {
        case jobID = "jobid", state, file, directory = "dir", shell, configKey = "key", commandName = "cmdname", command, none
    }

    struct Node {
        let path: [String]
        let spec: CommandSpec
        var name: String { path.joined(separator: " ") }
        var options: [OptionSpec] { spec.options + (spec.run == nil ? [] : [Parser.storeOption]) + [Parser.helpOption] }
        var valueOptions: [OptionSpec] { options.filter { $0.valueName != nil } }
    }

    let root: CommandSpec
    let nodes: [Node]

    init(root: CommandSpec) {
        self.root = root
        var nodes: [Node] = []
        func visit(_ spec: CommandSpec, _ path: [String]) {
            nodes.append(Node(path: path, spec: spec))
            for sub in spec.subcommands { visit(sub, path + [sub.name]) }
        }
        visit(root, [])
        self.nodes = nodes
    }

    static func kind(of option: OptionSpec) -> Kind {
        switch option.valueName {
        case "state": return .state
        case "path": return .file
        case "dir": return .directory
        default: return .none
        }
    }

    static func kind(of argument: ArgumentSpec, in node: Node) -> Kind {
        if node.path == ["help"] { return .commandName }
        switch argument.name {
        case "id": return .jobID
        case "key": return .configKey
        case "shell": return .shell
        case "command": return .command
        case "arg", "path", "file": return .file
        default: return .none
        }
    }

    /// The words each kind of value completes to, where they are fixed.
    func words(_ kind: Kind) -> [String] {
        switch kind {
        case .state: return JobState.allCases.map(\.rawValue)
        case .configKey: return ConfigKey.allCases.map(\.rawValue)
        case .shell: return Self.shells
        case .commandName: return root.subcommands.map(\.name)
        default: return []
        }
    }

    static func optionWords(_ o: OptionSpec) -> [String] { ["--" + o.name] + (o.short.map { ["-\($0)"] } ?? []) }

    // MARK: bash and zsh

    /// Single-quoted for sh, bash, zsh and fish alike: `'it'\''s'`.
    static func quoted(_ text: String) -> String { "'" + text.replacing("'", with: "'\\''") + "'" }

    /// `_queuectl_spec PATH` sets what the command at PATH takes, in syntax bash and zsh share:
    /// subs, opts, valopts (options that take a value), optkinds (option:kind), args (the kinds of
    /// its arguments in order, a last one ending in + repeating) and ends (1: options end at the
    /// first argument).
    func specFunction() -> String {
        var text = "_queuectl_spec() {\n    subs= opts= valopts= optkinds= args= ends=0\n    case \"$1\" in\n"
        for node in nodes {
            var sets: [String] = []
            if !node.spec.subcommands.isEmpty { sets.append("subs=" + Self.quoted(node.spec.subcommands.map(\.name).joined(separator: " "))) }
            sets.append("opts=" + Self.quoted(node.options.flatMap(Self.optionWords).joined(separator: " ")))
            if !node.valueOptions.isEmpty {
                sets.append("valopts=" + Self.quoted(node.valueOptions.flatMap(Self.optionWords).joined(separator: " ")))
                let kinds = node.valueOptions.flatMap { o in Self.optionWords(o).map { "\($0):\(Self.kind(of: o).rawValue)" } }
                sets.append("optkinds=" + Self.quoted(kinds.joined(separator: " ")))
            }
            if node.spec.subcommands.isEmpty, !node.spec.arguments.isEmpty {
                let kinds = node.spec.arguments.map { Self.kind(of: $0, in: node).rawValue + ($0.repeating ? "+" : "") }
                sets.append("args=" + Self.quoted(kinds.joined(separator: " ")))
            }
            if node.spec.argumentsEndOptions { sets.append("ends=1") }
            text += "    \(Self.quoted(node.name))) \(sets.joined(separator: " "));;\n"
        }
        return text + "    esac\n}\n"
    }

    /// The walk over the words before the cursor (its arguments, without the program's name), the
    /// same in bash and zsh: it finds the command (cmdpath), skips option values, counts arguments
    /// (n), sets dashes once options have ended, and leaves `want` set when the word under the
    /// cursor is an option's value.
    static let walkFunction = """
    _queuectl_walk() {
        local word only=0
        cmdpath= want= n=0
        for word in "$@"; do
            _queuectl_spec "$cmdpath"
            if [[ $word == = ]]; then continue; fi
            if [[ -n $want ]]; then want=; continue; fi
            if ((only == 0)) && [[ $word == -- ]]; then only=1; continue; fi
            if ((only == 0)) && [[ $word == -?* ]]; then
                if [[ $word != *=* && " $valopts " == *" $word "* ]]; then want=$word; fi
                continue
            fi
            if [[ -n $subs && " $subs " == *" $word "* ]]; then cmdpath=${cmdpath:+$cmdpath }$word; continue; fi
            ((n++))
            if ((ends)); then only=1; fi
        done
        _queuectl_spec "$cmdpath"
        dashes=$only
    }

    # The kind of value the option $1 takes, or of argument number $2 (from 0).
    _queuectl_kind() {
        local entry k i=0
        if [[ -n $1 ]]; then
            for entry in $(echo $optkinds); do [[ ${entry%%:*} == "$1" ]] && { echo "${entry#*:}"; return; }; done
            echo none; return
        fi
        k=none
        for entry in $(echo $args); do
            if ((i == $2)); then echo "${entry%+}"; return; fi
            if [[ $entry == *+ ]]; then k=${entry%+}; else k=none; fi
            ((i++))
        done
        echo $k
    }

    """

    func bash() -> String {
        """
        # bash completion for queuectl, made by 'queuectl completions bash' from queuectl \(CLI.version)'s own
        # command descriptions. Load it with: source <(queuectl completions bash)
        \(specFunction())
        \(Self.walkFunction)
        _queuectl() {
            local cur=${COMP_WORDS[COMP_CWORD]} cmdpath want n dashes subs opts valopts optkinds args ends kind
            _queuectl_walk "${COMP_WORDS[@]:1:COMP_CWORD-1}"
            # bash splits --state=pe into '--state' '=' 'pe'.
            if [[ $cur == = ]]; then cur=; fi
            if [[ -n $want ]]; then
                kind=$(_queuectl_kind "$want")
            elif ((dashes == 0)) && [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "$opts" -- "$cur"))
                return
            elif [[ -n $subs ]]; then
                COMPREPLY=($(compgen -W "$subs" -- "$cur"))
                return
            else
                kind=$(_queuectl_kind "" "$n")
            fi
            case $kind in
                jobid) COMPREPLY=($(compgen -W "$("${COMP_WORDS[0]}" completions --job-ids 2>/dev/null)" -- "$cur")) ;;
                state) COMPREPLY=($(compgen -W \(Self.quoted(words(.state).joined(separator: " "))) -- "$cur")) ;;
                key) COMPREPLY=($(compgen -W \(Self.quoted(words(.configKey).joined(separator: " "))) -- "$cur")) ;;
                shell) COMPREPLY=($(compgen -W \(Self.quoted(words(.shell).joined(separator: " "))) -- "$cur")) ;;
                cmdname) COMPREPLY=($(compgen -W \(Self.quoted(words(.commandName).joined(separator: " "))) -- "$cur")) ;;
                command) COMPREPLY=($(compgen -c -- "$cur")) ;;
                file) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")) ;;
                dir) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")) ;;
                *) COMPREPLY=() ;;
            esac
        }
        complete -F _queuectl queuectl
        """
    }

    func zsh() -> String {
        var descriptions = "_queuectl_descriptions() {\n    case \"$1\" in\n"
        for node in nodes where !node.spec.subcommands.isEmpty {
            let items = node.spec.subcommands.map { Self.quoted($0.name + ":" + $0.summary.replacing(":", with: "\\:")) }
            descriptions += "    \(Self.quoted(node.name))) reply=(\(items.joined(separator: " ")));;\n"
        }
        descriptions += "    esac\n}\n"
        return """
        #compdef queuectl
        # zsh completion for queuectl, made by 'queuectl completions zsh' from queuectl \(CLI.version)'s own
        # command descriptions. Install it as _queuectl in a directory of $fpath, or, after compinit:
        # source <(queuectl completions zsh)
        \(specFunction())
        \(descriptions)
        \(Self.walkFunction)
        _queuectl() {
            local cur=${words[CURRENT]} cmdpath want n dashes subs opts valopts optkinds args ends kind
            local -a reply
            _queuectl_walk "${(@)words[2,CURRENT-1]}"
            if [[ -z $want && $dashes == 0 && $cur == --*=* ]]; then
                want=${cur%%=*}
                compset -P '*='
            fi
            if [[ -n $want ]]; then
                kind=$(_queuectl_kind "$want")
            elif [[ $dashes == 0 && $cur == -* ]]; then
                compadd -- ${=opts}
                return
            elif [[ -n $subs ]]; then
                _queuectl_descriptions "$cmdpath"
                _describe -t commands 'queuectl command' reply
                return
            else
                kind=$(_queuectl_kind "" "$n")
            fi
            case $kind in
                jobid) compadd -- ${(f)"$(${words[1]} completions --job-ids 2>/dev/null)"} ;;
                state) compadd -- \(words(.state).joined(separator: " ")) ;;
                key) compadd -- \(words(.configKey).joined(separator: " ")) ;;
                shell) compadd -- \(words(.shell).joined(separator: " ")) ;;
                cmdname) compadd -- \(words(.commandName).joined(separator: " ")) ;;
                command) _command_names -e ;;
                file) _files ;;
                dir) _files -/ ;;
            esac
        }
        if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
            _queuectl "$@"
        else
            compdef _queuectl queuectl
        fi
        """
    }

    // MARK: fish

    func fish() -> String {
        var text = """
        # fish completion for queuectl, made by 'queuectl completions fish' from queuectl \(CLI.version)'s own
        # command descriptions. Load it with: queuectl completions fish | source

        function __queuectl_subcommands
            switch "$argv"

        """
        for node in nodes where !node.spec.subcommands.isEmpty {
            text += "        case \(Self.quoted(node.name))\n            echo \(node.spec.subcommands.map(\.name).joined(separator: " "))\n"
        }
        text += """
            end
        end

        # The command the words before the cursor name, such as 'worker start'.
        function __queuectl_path
            set -l path
            for word in (commandline -opc)[2..-1]
                if contains -- $word (string split ' ' -- (__queuectl_subcommands $path))
                    set path $path $word
                else if not string match -q -- '-*' $word
                    break
                end
            end
            echo $path
        end

        function __queuectl_at
            set -l path (__queuectl_path)
            test "$path" = "$argv"
        end


        """
        for node in nodes {
            let at = "-n " + Self.quoted("__queuectl_at " + Self.quoted(node.name))
            for sub in node.spec.subcommands {
                text += "complete -c queuectl -f \(at) -a \(Self.quoted(sub.name)) -d \(Self.quoted(sub.summary))\n"
            }
            for o in node.options {
                var line = "complete -c queuectl \(at) -l \(o.name)"
                if let short = o.short { line += " -s \(short)" }
                if o.valueName != nil {
                    switch Self.kind(of: o) {
                    case .file: line += " -r -F"
                    case .directory: line += " -r -f -a '(__fish_complete_directories)'"
                    case let kind: line += " -r -f" + (words(kind).isEmpty ? "" : " -a " + Self.quoted(words(kind).joined(separator: " ")))
                    }
                }
                text += line + " -d " + Self.quoted(o.help) + "\n"
            }
            guard node.spec.subcommands.isEmpty else { continue }
            // What the arguments complete to; a command whose arguments are not files completes none.
            let kinds = Set(node.spec.arguments.map { Self.kind(of: $0, in: node) })
            for kind in kinds.sorted(by: { $0.rawValue < $1.rawValue }) {
                switch kind {
                case .jobID: text += "complete -c queuectl -f \(at) -a '(queuectl completions --job-ids 2>/dev/null)'\n"
                case .file, .command: text += "complete -c queuectl -F \(at)\n"
                case .directory: text += "complete -c queuectl -f \(at) -a '(__fish_complete_directories)'\n"
                case .none: text += "complete -c queuectl -f \(at)\n"
                default: text += "complete -c queuectl -f \(at) -a \(Self.quoted(words(kind).joined(separator: " ")))\n"
                }
            }
            if kinds.isEmpty { text += "complete -c queuectl -f \(at)\n" }
        }
        return text
    }
}
