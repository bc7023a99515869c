internal import CCrypto

/// OpenSSL's state for the calling thread.
package enum OpenSSLThread {
    /// Frees what OpenSSL keeps for the calling thread (the random generators that
    /// `RAND_bytes` creates per thread, which libpq's password exchange calls; the error
    /// queue a failed TLS handshake leaves), now.
    ///
    /// A thread that stops before the process exits calls it last: OpenSSL would free
    /// them from its thread-exit handler, which runs after the thread has told its owner
    /// it is done, so a process exiting at that moment would still hold them, and
    /// LeakSanitizer reports them as leaked.
    package static func releaseState() {
        OPENSSL_thread_stop()
    }
}
