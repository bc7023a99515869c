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
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>

typedef void CURLM;
typedef void CURL;
extern int curl_multi_setopt(CURLM *, int, ...);
extern int curl_easy_setopt(CURL *, int, ...);

enum { CURLMOPT_MAXCONNECTS = 6, CURLOPT_CAPATH = 10097 }; /* <curl/multi.h>, <curl/curl.h> */

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
