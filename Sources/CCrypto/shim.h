// OpenSSL's libcrypto (Debian libssl-dev): digests, HMAC, constant-time comparison and
// random bytes. Only the GatewayCrypto target includes it.
// SHA256_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP, but they
// hash on the stack without the EVP context's allocation and lookups (see below).
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

// SHA-256 of `count` bytes into `digest` (32 bytes), the context on the stack: a short
// key hashes in about a third of `EVP_Digest`'s instructions, which allocates, sets up
// and frees a context around the same block function. Every request that presents a
// key is hashed once.
static inline void ccrypto_sha256(const unsigned char *bytes, size_t count, unsigned char *digest) {
    SHA256_CTX context;
    SHA256_Init(&context);
    SHA256_Update(&context, bytes, count);
    SHA256_Final(digest, &context);
    OPENSSL_cleanse(&context, sizeof context);
}
