import NIOCore
import NIOPosix

@main
enum Main {
    static func main() async {
        // One event loop thread per process, which also runs Swift Concurrency's jobs: a task
        // that awaits a database or HTTP answer resumes on the thread that read it, with no hop
        // to a second thread pool and back. Every round trip to PostgreSQL used to cost two
        // such hops, and on this kind of machine (2 vCPUs, several processes) a hop is a futex
        // wake-up and a context switch: measured at 300 orders/s, p99 was 10–44% lower in each
        // of 6 alternating pairs. A process then uses one core; more cores take more processes,
        // which is how the system scales anyway (competing consumers, any number of each).
        // A task resumed by a failed query may run before postgres-nio has torn the connection
        // down, so nothing sends a statement into a connection that failed
        // (`PostgresConnection.endTransaction(after:)`). Must happen before any task is created.
        NIOSingletons.groupLoopCountSuggestion = 1
        _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await EvenTicket.main()
    }
}
