/*
 * swarm_conn.c — whom we connect to: candidate addresses, the dialing
 * policy and the per-IP record of strikes and bans.
 *
 * Candidates are deduplicated by address and dialed in insertion order,
 * round-robin from a cursor, while established + connecting stay under
 * half of max_conns (the rest is for peers that dial us) and connects in
 * flight under max_half_open. A connection that
 * closes puts its candidate on a back-off (10 s doubling to 5 min; a
 * connection that moved payload resets it). Addresses that turned out to
 * be ourselves or are banned are never dialed or accepted; when complete
 * we do not dial peers known to be seeds, and once we completed by
 * downloading we dial others only slowly and while few leechers are
 * connected (SW_SEED_LEECHERS).
 */
#include "swarm_int.h"

#include "dial.h"

#include <stdlib.h>
#include <string.h>

void sw_conn_free(sh_swarm *s)
{
    free(s->cands);
    free(s->ips);
}

sw_cand *sw_cand_find(sh_swarm *s, const sh_addr *a)
{
    for (size_t i = 0; i < s->ncands; i++)
        if (sh_addr_eq(&s->cands[i].addr, a)) return &s->cands[i];
    return NULL;
}

sw_cand *sw_cand_of_conn(sh_swarm *s, sh_conn_id c)
{
    for (size_t i = 0; i < s->ncands; i++)
        if (s->cands[i].state != SW_CAND_IDLE && s->cands[i].conn == c) return &s->cands[i];
    return NULL;
}

static bool is_self(const sh_swarm *s, const sh_addr *a)
{
    for (uint32_t i = 0; i < s->nself && i < 4; i++)
        if (sh_addr_eq(&s->self[i], a)) return true;
    return false;
}

static void cand_remove(sh_swarm *s, size_t i)
{
    memmove(s->cands + i, s->cands + i + 1, (s->ncands - i - 1) * sizeof *s->cands);
    s->ncands--;
    if (s->dial_cursor > i) s->dial_cursor--;
    if (s->dial_cursor >= s->ncands) s->dial_cursor = 0;
}

void sw_mark_self(sh_swarm *s, const sh_addr *a)
{
    if (!is_self(s, a)) s->self[s->nself++ % 4] = *a;
    for (size_t i = 0; i < s->ncands; i++) {
        if (!sh_addr_eq(&s->cands[i].addr, a)) continue;
        cand_remove(s, i);
        break;
    }
}

int sw_cand_add(sh_swarm *s, const sh_addr *a, sh_peer_source src)
{
    if (!a || (a->family != 4 && a->family != 6) || a->port == 0) return SH_EINVAL;
    if (sw_banned(s, a) || is_self(s, a) || sw_cand_find(s, a)) return SH_EEXIST;
    if (s->ncands >= SW_MAX_CANDS) return SH_ELIMIT;
    if (s->ncands == s->capcands) {
        size_t ncap = s->capcands ? s->capcands * 2 : 16;
        sw_cand *n = realloc(s->cands, ncap * sizeof *n);
        if (!n) return SH_ENOMEM;
        s->cands = n;
        s->capcands = ncap;
    }
    s->cands[s->ncands++] = (sw_cand){.addr = *a, .src = src};
    s->dial_due = true;
    return 0;
}

void sw_cand_established(sh_swarm *s, sh_peer *p)
{
    sw_cand *c = p->outgoing ? sw_cand_of_conn(s, p->id) : NULL;
    if (c) c->state = SW_CAND_CONNECTED;
}

void sw_cand_closed(sh_swarm *s, sh_peer *p, sh_time now)
{
    sw_cand *c = sw_cand_of_conn(s, p->id);
    if (!c) return;
    c->state = SW_CAND_IDLE;
    c->conn = 0;
    c->fails = sh_dial_next_fails(c->fails, p->down + p->up > 0);
    c->retry_at = now + sh_dial_backoff(c->fails);
    sw_arm(s, c->retry_at);
}

uint32_t sw_count(const sh_swarm *s, uint32_t *connecting, uint32_t *half_open)
{
    uint32_t est = 0;
    *connecting = *half_open = 0;
    for (size_t i = 0; i < s->npeers; i++) {
        const sh_peer *p = s->peers[i];
        if (p->dead) continue;
        if (p->state == SH_PEER_ACTIVE)
            est++;
        else
            (*connecting)++;
        if (p->state == SH_PEER_CONNECTING) (*half_open)++;
    }
    return est;
}

static bool dialable(const sh_swarm *s, const sw_cand *c, sh_time now)
{
    return c->state == SW_CAND_IDLE && c->retry_at <= now && !(c->seed && sw_complete(s));
}

/* Index of the next dialable candidate from the cursor, or ncands. */
static size_t next_dialable(sh_swarm *s, sh_time now)
{
    for (size_t k = 0; k < s->ncands; k++) {
        size_t i = (s->dial_cursor + k) % s->ncands;
        if (dialable(s, &s->cands[i], now)) return i;
    }
    return s->ncands;
}

static bool dial_one(sh_swarm *s, sw_cand *c, sh_time now)
{
    sh_peer *p;
    if (sw_add_peer_obj(s, &c->addr, true, now, &p) < 0) return false;
    c->state = SW_CAND_CONNECTING;
    c->conn = p->id;
    char a[SH_ADDR_STRLEN];
    sw_debug(s, "conn %llu: dialing %s", (unsigned long long)p->id,
             sh_addr_format(&c->addr, a, sizeof a));
    sw_push(s, &(sh_action){.type = SH_ACT_CONNECT, .conn = p->id, .addr = c->addr});
    return true;
}

/* Established connections to peers that still lack pieces. */
static uint32_t leechers(const sh_swarm *s)
{
    uint32_t n = 0;
    for (size_t i = 0; i < s->npeers; i++) {
        const sh_peer *p = s->peers[i];
        n += !p->dead && p->state == SH_PEER_ACTIVE && !p->seed;
    }
    return n;
}

/* Complete: may we dial one more now? (see SW_SEED_LEECHERS) */
static bool seed_may_dial(sh_swarm *s, sh_time now)
{
    return now >= s->seed_dial_at && leechers(s) < SW_SEED_LEECHERS;
}

/*
 * We dial only up to half of max_conns; the other half is filled by peers
 * that dial us. Hosts that start first otherwise fill every slot with each
 * other, and the hosts (and the origin) that come later find them full:
 * bench/swarm N = 100 split into the first fifty downloaders, which all
 * finished last (mean address .28 against .78), and the rest.
 */
static uint32_t dial_limit(const sh_swarm *s)
{
    return (s->max_conns + 1) / 2;
}

void sw_dial(sh_swarm *s, sh_time now)
{
    uint32_t connecting, half_open;
    uint32_t est = sw_count(s, &connecting, &half_open);
    bool complete = s->downloaded && sw_complete(s);
    if (complete && !seed_may_dial(s, now)) return;
    while (half_open < s->max_half_open && est + connecting < dial_limit(s)) {
        size_t i = next_dialable(s, now);
        if (i == s->ncands) return;
        s->dial_cursor = (i + 1) % s->ncands;
        if (!dial_one(s, &s->cands[i], now)) return;
        half_open++;
        connecting++;
        if (complete) {
            s->seed_dial_at = now + SW_SEED_DIAL_GAP;
            return;
        }
    }
}

sh_time sw_dial_deadline(const sh_swarm *s, sh_time now)
{
    uint32_t connecting, half_open;
    uint32_t est = sw_count(s, &connecting, &half_open);
    if (half_open >= s->max_half_open || est + connecting >= dial_limit(s)) return SH_TIME_NEVER;
    sh_time t = SH_TIME_NEVER;
    for (size_t i = 0; i < s->ncands; i++) {
        const sw_cand *c = &s->cands[i];
        if (c->state != SW_CAND_IDLE || (c->seed && sw_complete(s))) continue;
        sh_time at = c->retry_at > now ? c->retry_at : now;
        if (s->downloaded && sw_complete(s) && at < s->seed_dial_at) at = s->seed_dial_at;
        if (at > now && at < t) t = at;
    }
    return t;
}

/* ---- strikes and bans, per IP ---- */

static sw_ip *ip_find(const sh_swarm *s, const sh_addr *a)
{
    for (size_t i = 0; i < s->nips; i++)
        if (sh_addr_ip_eq(&s->ips[i].ip, a)) return &s->ips[i];
    return NULL;
}

static sw_ip *ip_get(sh_swarm *s, const sh_addr *a)
{
    sw_ip *e = ip_find(s, a);
    if (e) return e;
    if (s->nips == s->capips) {
        size_t ncap = s->capips ? s->capips * 2 : 8;
        sw_ip *n = realloc(s->ips, ncap * sizeof *n);
        if (!n) return NULL;
        s->ips = n;
        s->capips = ncap;
    }
    e = &s->ips[s->nips++];
    memset(e, 0, sizeof *e);
    e->ip = *a;
    e->ip.port = 0;
    return e;
}

bool sw_banned(const sh_swarm *s, const sh_addr *a)
{
    const sw_ip *e = ip_find(s, a);
    return e && e->banned;
}

static void ban(sh_swarm *s, sw_ip *e, sh_time now)
{
    char a[SH_ADDR_STRLEN];
    e->banned = true;
    s->banned++;
    sw_info(s, "banned %s: sent data that failed hash checks", sh_addr_format(&e->ip, a, sizeof a));
    for (size_t i = 0; i < s->npeers; i++)
        if (!s->peers[i]->dead && sh_addr_ip_eq(&s->peers[i]->addr, &e->ip))
            sw_close(s, s->peers[i], SH_EHASH, true, now, "banned: sent corrupt data");
    for (size_t i = s->ncands; i-- > 0;)
        if (sh_addr_ip_eq(&s->cands[i].addr, &e->ip)) cand_remove(s, i);
}

void sw_strike(sh_swarm *s, const sh_addr *ip, bool at_once, sh_time now)
{
    sw_ip *e = ip_get(s, ip);
    if (!e || e->banned) return;
    e->strikes = at_once ? SW_BAN_STRIKES : e->strikes + 1;
    if (e->strikes >= SW_BAN_STRIKES) ban(s, e, now);
}
