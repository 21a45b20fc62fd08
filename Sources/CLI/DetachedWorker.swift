import QueueStorage
import QueueSystem

extension Commands {
    /// Where detached workers append their event lines, in the queue directory.
    static let workerLogName = "worker.log"

    /// Starts `queuectl worker start <arguments>` in the background, detached from the terminal (a
    /// session of its own, stdin from /dev/null), its event lines appended to
    /// `$QUEUECTL_HOME/worker.log`. Returns its pid once it has registered, so `status` shows it;
    /// a worker that fails at once is an error that quotes what it wrote.
    static func startDetachedWorker(_ arguments: [String], _ context: Context) throws(QueueError) -> Int32 {
        let store = try context.queue()
        // The worker inherits the store through the environment: a connection string on its command
        // line would be there for every user's `ps` to read.
        if let conninfo = try context.postgresConnection() { Console.setEnvironment("QUEUECTL_STORE", conninfo) }
        let home = try store.home.openCreating()
        let logPath = home.path(of: workerLogName)
        guard let executable = Processes.ownExecutable() else {
            throw .failure("cannot start a worker: this program's executable is not readable at /proc/self/exe")
        }
        let pid: Int32
        let logStart: Int
        do {
            let log = try home.openForWriting(workerLogName, append: true)
            logStart = try log.status().size
            pid = try Processes.spawnDetached(executable, arguments: ["worker", "start"] + arguments, outputFD: log.rawValue)
        } catch {
            throw .failure("cannot start a worker with its output in \(logPath): \(error)")
        }
        let deadline = monotonicMilliseconds() + 10_000
        while monotonicMilliseconds() < deadline {
            if let status = Processes.reapIfExited(pid) {
                // A --drain worker that found nothing to do has done its work.
                if status == .exited(0) { return pid }
                let written = ((try? home.readFile(workerLogName)) ?? nil)?.dropFirst(logStart) ?? []
                let said = String(decoding: written, as: UTF8.self).trimmingWhitespace()
                throw .failure("the worker exited at once (\(status))" + (said.isEmpty ? "" : ":\n" + said))
            }
            if (try? store.read(.none).workers.contains { $0.process.pid == pid }) == true { return pid }
            sleepMilliseconds(20)
        }
        Console.err("note: worker \(pid) has not registered within 10s (is another command holding the lock?); its events go to \(logPath)\n")
        return pid
    }
}
