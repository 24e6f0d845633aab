@main
enum Main {
    static func main() async {
        // Swift Concurrency could run on NIO's event loops
        // (NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor),
        // which saves a thread hop per database answer (about 5% of the CPU per saga here). It is
        // not installed: with it, a task resumed by a failed query runs inside postgres-nio's
        // error handling, and a statement it sends there (a ROLLBACK) could be queued on a
        // connection that is being torn down and never answered. Seen under chaos as processes
        // that did not stop on SIGTERM.
        await EvenTicket.main()
    }
}
