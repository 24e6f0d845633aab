import ArgumentParser
import NIOCore
import NIOPosix

@main
enum Main {
    static func main() async {
        // Swift Concurrency's jobs run on NIO's event loop threads, so a task that awaits a
        // database or HTTP answer resumes on the thread that read it, with no hop to a second
        // thread pool and back. Must happen on the main thread before any task is created.
        _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await EvenTicket.main()
    }
}
