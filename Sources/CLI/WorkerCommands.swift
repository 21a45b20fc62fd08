import JobManager
import QueueStorage
import QueueSystem
import Worker

extension Commands {
    static let worker = CommandSpec(
        name: "worker",
        summary: "Run, stop or list worker processes.",
        discussion: "  'worker --count 2' is 'worker start --count 2'.",
        subcommands: [workerStart, workerStop, workerStatus],
        defaultSubcommand: "start"
    )

    static let workerStatus = CommandSpec(
        name: "status",
        summary: "List the running workers: pid, slots, since when, and the jobs each runs.",
        options: [.flag("json", "Print the workers as 'status --json' does.")],
        run: runWorkerStatus
    )

    static let workerStart = CommandSpec(
        name: "start",
        summary: "Run jobs in this terminal until Ctrl+C.",
        discussion: """
          One process runs up to <n> jobs at once, each as '/bin/sh -c COMMAND' in its own process group,
          and prints a line per event. Several workers may run at once; no job ever runs twice at once.
          Ctrl+C (or SIGTERM, SIGHUP, 'queuectl worker stop'): stop claiming jobs, let the running ones
          finish and record them, then exit 0. A second Ctrl+C: terminate the running jobs (SIGTERM,
          then SIGKILL after 5s), put them back to pending without using up a retry, and exit 130.
          Started with SIGHUP ignored (under nohup), it keeps ignoring it. With --detach, the worker
          runs in the background, apart from this terminal; its pid is printed and its event lines
          are appended to $QUEUECTL_HOME/worker.log.
        """,
        arguments: [ArgumentSpec(name: "count", help: "Jobs to run at once, as --count ('worker start 3').", optional: true)],
        options: [
            .value("count", short: "c", "n", "Jobs to run at once, 1 to 256.", default: "config worker-count"),
            .flag("drain", "Exit once nothing runs and no job is runnable now (for cron)."),
            .flag("detach", "Run in the background, detached from the terminal; print its pid."),
            .repeating("queue", "name", "Claim only jobs of this queue; repeat it for several (default: every queue)."),
        ],
        run: runWorkerStart
    )

    static let workerStop = CommandSpec(
        name: "stop",
        summary: "Ask every running worker of this queue to stop gracefully.",
        discussion: """
          Sends SIGTERM to each registered, live worker, or only to the workers given by pid: they stop
          claiming, finish their running jobs and exit. Running it again while they wait terminates their
          jobs, as a second Ctrl+C does. A pid that is not a live worker of this queue is refused, and
          then no worker is signalled.
        """,
        arguments: [ArgumentSpec(name: "pid", help: "A worker's process id, as 'status' shows it.", optional: true, repeating: true)],
        options: [
            .flag("wait", "Return only when every worker has exited."),
            .value("timeout", short: "t", "seconds", "With --wait, give up after this long (exit 124)."),
        ],
        run: runWorkerStop
    )

    static func runWorkerStart(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        var slots: Int?
        if !args.positionals.isEmpty, args.value("count") != nil { throw .usage("give the count once: as <count> or as --count") }
        if let text = args.value("count") ?? args.positionals.first {
            slots = try NumberInput.integer(text, for: args.positionals.isEmpty ? "--count" : "<count>", in: QueueConfig.workerCountRange)
        }
        let queues = args.all("queue")
        for queue in queues { try JobManager.validateQueueName(queue, "--queue") }
        if args.has("detach") {
            context.print(String(try startDetachedWorker(args.words(excluding: ["detach", "store"]), context)))
            return 0
        }
        let store = try context.queue()
        // A worker never gives up on the lock (someone pausing a command must not stop it), but says who holds it.
        store.lockWaiting = LockWaiting(report: Commands.reportLockWait)
        var count = slots ?? 0
        if slots == nil { count = try store.read(.none).config.workerCount }
        let worker = Worker(store: store, slots: count, drain: args.has("drain"), queues: queues.isEmpty ? nil : queues) { event in
            context.print(describe(event))
            context.flush()
        }
        return try worker.run()
    }

    static func describe(_ event: WorkerEvent) -> String {
        let time = "[\(Timestamp.now().shortDisplay)] "
        func attempt(_ job: Job) -> String { "attempt \(job.attempts) of \(job.maxRuns)" }
        switch event {
        case .started(let record, let home):
            return time + "worker \(record.process.pid) started with \(record.slots) slot\(record.slots == 1 ? "" : "s") on \(home) "
                + (Console.isTerminal(0) ? "(Ctrl+C to stop)" : "(stop it with 'queuectl worker stop')")
        case .jobStarted(let job):
            return time + "\(job.id) started (run \(job.attempts + 1) of \(job.maxRuns)): \(Output.oneLine(job.commandLine))"
        case .jobFinished(let t, let ms):
            let job = t.job
            if t.removed { return time + "\(job.id) ended and was removed (cancelled)" }
            if t.killed { return time + "\(job.id) killed after \(describeDuration(milliseconds: ms)); moved to the DLQ" }
            switch job.state {
            case .completed: return time + "\(job.id) completed in \(describeDuration(milliseconds: ms))"
            case .failed:
                return time + "\(job.id) failed (\(job.lastError ?? "error"), \(attempt(job))); retry in \(Output.duration(seconds: t.retryInSeconds ?? 0))"
            default:
                return time + "\(job.id) failed (\(job.lastError ?? "error"), \(attempt(job))); moved to the DLQ"
            }
        case .jobTimedOut(let job, let seconds):
            return time + "\(job.id) timed out after \(formatSeconds(seconds))s; terminating it"
        case .cancelling(let job):
            return time + "\(job.id) cancelled; terminating it"
        case .killing(let job):
            return time + "\(job.id) killed (queuectl kill); terminating it"
        case .waitingForGroup(let job):
            return time + "\(job.id)'s shell has exited; its run goes on until the rest of its process group has ended"
        case .outputNotLogged(let job, let reason):
            return time + "\(job.id): \(reason); it runs with its output discarded"
        case .drained:
            return time + "no job is runnable now; exiting (--drain)"
        case .resultDiscarded(let id):
            return time + "\(id) ended, but it was no longer this worker's job; its result was not recorded"
        case .jobReleased(let job):
            return time + "\(job.id) terminated; back to pending (this run does not count as an attempt)"
        case .recovered(let t):
            let job = t.job
            if t.removed { return time + "\(job.id) removed (cancelled; its worker was lost)" }
            if t.killed { return time + "\(job.id) killed (its worker was lost); moved to the DLQ" }
            let next = job.state == .dead ? "moved to the DLQ" : "retry in \(Output.duration(seconds: t.retryInSeconds ?? 0))"
            return time + "\(job.id) recovered from a lost worker (\(attempt(job))); \(next)"
        case .stopRequested(let running):
            if running == 0 { return time + "stopping" }
            return time + "stopping: waiting for \(running) running job\(running == 1 ? "" : "s") to finish (Ctrl+C again to terminate them)"
        case .fencing(let reason, let running):
            return time + "\(reason); killing its \(running) running job\(running == 1 ? "" : "s") before its lease runs out "
                + "(others may then run them), and stopping"
        case .terminating(let running):
            return time + "terminating \(running) running job\(running == 1 ? "" : "s")"
        case .waitingForLock(let message):
            return time + "\(message); trying again, its jobs running meanwhile"
        case .resultsNotRecorded(let count):
            return time + "\(count) finished run\(count == 1 ? "" : "s") could not be recorded; "
                + "the next command that takes the lock recovers \(count == 1 ? "its job" : "their jobs") as 'worker lost'"
        case .storageFailed(let message):
            return time + "could not update the queue (\(message)); keeping the results and trying again"
        case .stopped(let forced):
            return time + "worker stopped" + (forced ? " (jobs terminated)" : "")
        }
    }

    static func runWorkerStop(_ args: ParsedArguments, _ context: Context) throws(QueueError) -> Int32 {
        var deadline: Int64?
        if let text = args.value("timeout") {
            guard args.has("wait") else { throw .usage("--timeout goes with --wait") }
            let seconds = try NumberInput.decimal(text, for: "--timeout", in: QueueConfig.secondsRange, what: "a number of seconds")
            deadline = monotonicMilliseconds() + Int64(seconds * 1000)
        }
        // Signalling needs no lock, and must not wait for it: a stopped lock holder must not keep workers running.
        // Records of workers that died stay until the next command that takes the lock removes them.
        // A worker's pid means something only in its own PID namespace: one in another is stopped there.
        let pids = try args.positionals.map { (text) throws(QueueError) in
            Int32(try NumberInput.integer(text, for: "<pid>", in: 1...Int(Int32.max)))
        }
        let all = try context.read(.none).workers
        let live = all.filter { $0.isInThisNamespace && $0.process.isAlive }
        var workers = live
        if !pids.isEmpty {
            // All or none: a wrong pid must not leave the right ones half stopped.
            for pid in pids where !live.contains(where: { $0.process.pid == pid }) {
                if all.contains(where: { $0.process.pid == pid && !$0.isInThisNamespace }) {
                    throw .failure("worker \(pid) is in another PID namespace: stop it there")
                }
                throw .failure("no worker of this queue has pid \(pid) (see 'queuectl status' for the running ones)")
            }
            workers = live.filter { pids.contains($0.process.pid) }
        } else {
            for w in all where !w.isInThisNamespace {
                Console.err("worker \(w.process.pid) is in another PID namespace: stop it there\n")
            }
        }
        if workers.isEmpty {
            context.print("no workers are running")
            return 0
        }
        for w in workers where Processes.signal(w.process.pid, .terminate) {
            context.print("asked worker \(w.process.pid) to stop")
        }
        context.flush()
        guard args.has("wait") else { return 0 }
        while workers.contains(where: { $0.process.isAlive }) {
            if let deadline, monotonicMilliseconds() >= deadline {
                let left = workers.filter { $0.process.isAlive }.map { String($0.process.pid) }
                Console.err("Error: timed out; still running: worker \(left.joined(separator: ", "))\n")
                return 124
            }
            sleepMilliseconds(50)
        }
        context.print(pids.isEmpty ? "all workers have exited" : "worker\(pids.count == 1 ? "" : "s") \(pids.map(String.init).joined(separator: ", ")) exited")
        return 0
    }
}
