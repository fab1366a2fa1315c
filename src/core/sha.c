/*
 * sha.c — SHA-1 and SHA-256 over OpenSSL's EVP interface.
 *
 * Each incremental context fetches its EVP_MD once and re-initialises with
 * EVP_DigestInit_ex2(ctx, NULL, ...) after every final, so a reused context
 * pays no algorithm lookup per digest. That is why loops over many small
 * inputs (merkle interior nodes) should reuse one context rather than call
 * the one-shot functions: in OpenSSL 3 every one-shot call (EVP_Digest with
 * EVP_sha256(), and SHA256() alike) does an implicit fetch that costs more
 * than hashing 64 bytes. The core keeps no global cache to avoid it: no
 * mutable globals is a rule of the core.
 *
 * The public functions return void. OpenSSL fails only on allocation or a
 * broken provider; then the output is zeroed, which can never match a real
 * digest, so the failure surfaces as a hash mismatch rather than a crash.
 */
#include <shoal/sha.h>

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

struct sh_sha {
    EVP_MD_CTX *ctx;
    EVP_MD *md;
    size_t len; /* digest length: 20 or 32 */
    int ok;     /* 0 after any OpenSSL failure until the next final */
};

static void oneshot(const EVP_MD *md, const void *data, size_t len, uint8_t *out, size_t outlen)
{
    static const uint8_t empty[1];
    if (data == NULL) data = empty; /* (NULL, 0) is a valid empty input for us */
    if (EVP_Digest(data, len, out, NULL, md, NULL) != 1) memset(out, 0, outlen);
}

void sh_sha1(const void *data, size_t len, uint8_t out[SH_SHA1_LEN])
{
    oneshot(EVP_sha1(), data, len, out, SH_SHA1_LEN);
}

void sh_sha256(const void *data, size_t len, uint8_t out[SH_SHA256_LEN])
{
    oneshot(EVP_sha256(), data, len, out, SH_SHA256_LEN);
}

void sh_sha256_pair(const uint8_t a[32], const uint8_t b[32], uint8_t out[32])
{
    uint8_t buf[64];
    memcpy(buf, a, 32);
    memcpy(buf + 32, b, 32);
    oneshot(EVP_sha256(), buf, sizeof buf, out, SH_SHA256_LEN);
}

static sh_sha *ctx_new(const char *alg, size_t len)
{
    sh_sha *c = calloc(1, sizeof *c);
    if (c == NULL) return NULL;
    c->len = len;
    c->md = EVP_MD_fetch(NULL, alg, NULL);
    c->ctx = EVP_MD_CTX_new();
    if (c->md == NULL || c->ctx == NULL || EVP_DigestInit_ex2(c->ctx, c->md, NULL) != 1) {
        sh_sha_free(c);
        return NULL;
    }
    c->ok = 1;
    return c;
}

sh_sha *sh_sha1_new(void)
{
    return ctx_new("SHA1", SH_SHA1_LEN);
}

sh_sha *sh_sha256_new(void)
{
    return ctx_new("SHA256", SH_SHA256_LEN);
}

void sh_sha_update(sh_sha *c, const void *data, size_t len)
{
    if (len == 0 || !c->ok) return;
    if (EVP_DigestUpdate(c->ctx, data, len) != 1) c->ok = 0;
}

void sh_sha_final(sh_sha *c, uint8_t *out)
{
    if (!c->ok || EVP_DigestFinal_ex(c->ctx, out, NULL) != 1) memset(out, 0, c->len);
    /* NULL type keeps the fetched digest: no lookup on reuse. */
    c->ok = EVP_DigestInit_ex2(c->ctx, NULL, NULL) == 1;
}

void sh_sha_free(sh_sha *c)
{
    if (c == NULL) return;
    EVP_MD_CTX_free(c->ctx);
    EVP_MD_free(c->md);
    free(c);
}
