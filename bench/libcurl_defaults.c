/*
 * Measurement aid for BENCH_LIBCURL_DEFAULTS=1, never part of a deployment: preloaded into
 * the gateway, it changes the two libcurl defaults FoundationNetworking gives no way to set,
 * so the benchmark can show what each one costs URLSession.
 *
 *   BENCH_CURL_MAXCONNECTS=N  CURLMOPT_MAXCONNECTS on every multi handle (0: libcurl's
 *       default, the state FoundationNetworking leaves it in). By default libcurl
 *       keeps at most 4 idle connections per transfer in progress and closes the rest.
 *   BENCH_CURL_NO_CAPATH=1    CURLOPT_CAPATH NULL on every easy handle (the CA file stays).
 *       Debian's libcurl sets both a CA file and a CA path; with a CA path libcurl does not
 *       cache the parsed CA store (CURLOPT_CA_CACHE_TIMEOUT), so every new TLS connection
 *       parses the whole bundle again.
 *
 * The reverse, for the curl transport (which sets both itself): what each of its settings
 * is worth, by undoing it.
 *
 *   BENCH_CURL_IGNORE_MAXCONNECTS=1  the program's CURLMOPT_MAXCONNECTS is dropped, so
 *       libcurl's default connection cache stays.
 *   BENCH_CURL_KEEP_CAPATH=1  the program's CURLOPT_CAPATH NULL is dropped, so the CA path
 *       libcurl was built with (/etc/ssl/certs on Debian) stays, and with it no CA cache.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stdlib.h>

typedef void CURLM;
typedef void CURL;

enum { CURLMOPT_MAXCONNECTS = 6, CURLOPT_CAPATH = 10097 }; /* <curl/multi.h>, <curl/curl.h> */

/* Every option the gateway sets takes one long, curl_off_t, pointer or function pointer:
 * on x86-64 and arm64 each travels in one integer register, so one pointer-sized
 * argument forwards any of them. */
int curl_multi_setopt(CURLM *multi, int option, ...) {
    va_list ap;
    va_start(ap, option);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (option == CURLMOPT_MAXCONNECTS && getenv("BENCH_CURL_IGNORE_MAXCONNECTS")) return 0;
    int (*real)(CURLM *, int, ...) = (int (*)(CURLM *, int, ...))dlsym(RTLD_NEXT, "curl_multi_setopt");
    return real(multi, option, arg);
}

int curl_easy_setopt(CURL *easy, int option, ...) {
    va_list ap;
    va_start(ap, option);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (option == CURLOPT_CAPATH && arg == 0 && getenv("BENCH_CURL_KEEP_CAPATH")) return 0;
    int (*real)(CURL *, int, ...) = (int (*)(CURL *, int, ...))dlsym(RTLD_NEXT, "curl_easy_setopt");
    return real(easy, option, arg);
}

CURLM *curl_multi_init(void) {
    CURLM *(*real)(void) = (CURLM * (*)(void)) dlsym(RTLD_NEXT, "curl_multi_init");
    CURLM *multi = real();
    const char *value = getenv("BENCH_CURL_MAXCONNECTS");
    if (multi && value) curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, atol(value));
    return multi;
}

CURL *curl_easy_init(void) {
    CURL *(*real)(void) = (CURL * (*)(void)) dlsym(RTLD_NEXT, "curl_easy_init");
    CURL *easy = real();
    const char *value = getenv("BENCH_CURL_NO_CAPATH");
    if (easy && value && value[0] == '1') curl_easy_setopt(easy, CURLOPT_CAPATH, (char *)0);
    return easy;
}
