// OpenSSL's libcrypto (Debian libssl-dev): digests, HMAC, constant-time comparison and
// random bytes. Only the GatewayCrypto target includes it.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
