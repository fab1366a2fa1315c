/*
 * dht_token.c — the write tokens of get_peers / announce_peer (BEP 5).
 *
 * A token proves that the announcer received our get_peers answer at its
 * IP, so nobody can announce on behalf of an address it cannot receive at.
 * It is bound to the IP only, not the port (BEP 5; a NAT may move the port).
 *
 * The secret of period p (5 minutes long, counted from the node's creation)
 * is SHA-256(key || p), where key is derived once from the driver's seed and
 * our id; a token is the first DHT_TOKEN_LEN bytes of
 * SHA-256(secret_p || family || IP). Tokens of the current and the previous
 * period are honoured, so a token lives between 5 and 10 minutes. Deriving
 * the secrets from a key rather than from the node's generator keeps them
 * out of reach of anyone who watches our (generator-made) transaction ids;
 * they are exactly as unguessable as the seed.
 */
#include "dht_int.h"

#include <shoal/sha.h>

#include <string.h>

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void dht_token_init(dht_tokens *tk, uint64_t seed, const uint8_t id[20], sh_time now)
{
    static const char tag[] = "shoal dht token key";
    uint8_t buf[sizeof tag + 8 + 20];
    memcpy(buf, tag, sizeof tag);
    put64(buf + sizeof tag, seed);
    memcpy(buf + sizeof tag + 8, id, 20);
    sh_sha256(buf, sizeof buf, tk->key);
    tk->t0 = now;
}

static uint64_t period(const dht_tokens *tk, sh_time now)
{
    return now < tk->t0 ? 0 : (now - tk->t0) / DHT_SECRET_TIME;
}

static void compute(const dht_tokens *tk, uint64_t p, const sh_addr *a, uint8_t out[DHT_TOKEN_LEN])
{
    uint8_t buf[32 + 8], secret[SH_SHA256_LEN], h[SH_SHA256_LEN];
    memcpy(buf, tk->key, 32);
    put64(buf + 32, p);
    sh_sha256(buf, sizeof buf, secret);
    uint8_t msg[32 + 1 + 16];
    size_t iplen = a->family == 4 ? 4 : 16;
    memcpy(msg, secret, 32);
    msg[32] = a->family;
    memcpy(msg + 33, a->ip, iplen);
    sh_sha256(msg, 33 + iplen, h);
    memcpy(out, h, DHT_TOKEN_LEN);
}

void dht_token_make(const dht_tokens *tk, const sh_addr *a, sh_time now, uint8_t out[DHT_TOKEN_LEN])
{
    compute(tk, period(tk, now), a, out);
}

bool dht_token_check(const dht_tokens *tk, const sh_addr *a, const uint8_t *tok, size_t len,
                     sh_time now)
{
    if (len != DHT_TOKEN_LEN) return false;
    uint64_t p = period(tk, now);
    uint8_t want[DHT_TOKEN_LEN];
    compute(tk, p, a, want);
    if (memcmp(want, tok, len) == 0) return true;
    if (p == 0) return false;
    compute(tk, p - 1, a, want);
    return memcmp(want, tok, len) == 0;
}
