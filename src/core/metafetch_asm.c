/*
 * metafetch_asm.c — assembling the metadata: which size is being fetched,
 * who is asked for which piece, the checks on every answer, the hash check
 * and who is punished when it fails.
 *
 * An attempt assembles one metadata_size. It is the size most connected
 * peers claim (ties: the earliest connection), and only peers claiming it
 * are asked; the others wait until the attempt fails or has no peer left.
 * Each piece is asked of one peer at a time, MF_REQS per peer. An answer
 * must match a request of the current attempt (answers to an older
 * attempt are dropped silently; unasked ones count towards
 * MF_MAX_UNSOLICITED), carry the length the size implies, and a
 * total_size, if any, equal to the peer's metadata_size.
 *
 * When the bytes fail the hash check, the attempt is thrown away. A sole
 * contributor is banned; several contributors get a strike each and the
 * fetcher turns careful: from then on an attempt takes every piece from
 * one peer (the one with the fewest strikes), so the next failure is
 * attributable. Verified bytes that do not parse as an info dictionary end
 * the fetch (SH_MF_FAILED): no peer can give other bytes for that hash.
 */
#include "metafetch_int.h"

#include <shoal/metainfo.h>
#include <shoal/sha.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void drop_attempt(mf_asm *a)
{
    free(a->buf);
    free(a->st);
    free(a->from);
    a->buf = NULL;
    a->st = NULL;
    a->from = NULL;
    a->size = 0;
    a->npieces = a->nhave = 0;
    a->source = 0;
    a->gen++;
}

void mf_asm_free(mf_asm *a)
{
    drop_attempt(a);
}

static bool usable(const sh_metafetch *f, const mf_conn *c)
{
    return !c->dead && c->state == MF_ACTIVE && c->size > 0 && !c->refused &&
           !mf_banned(f, &c->addr);
}

/* The size most usable peers claim; ties go to the earliest connection. 0 if none. */
static uint64_t choose_size(const sh_metafetch *f)
{
    uint64_t best = 0;
    uint32_t best_n = 0;
    for (size_t i = 0; i < f->nconns; i++) {
        const mf_conn *c = f->conns[i];
        if (!usable(f, c)) continue;
        uint32_t n = 0;
        for (size_t j = 0; j < f->nconns; j++)
            n += usable(f, f->conns[j]) && f->conns[j]->size == c->size;
        if (n > best_n) best = (uint64_t)c->size, best_n = n;
    }
    return best;
}

static bool start_attempt(sh_metafetch *f, uint64_t size)
{
    mf_asm *a = &f->a;
    drop_attempt(a);
    a->npieces = sh_md_pieces(size);
    a->buf = malloc(size);
    a->st = calloc(a->npieces, 1);
    a->from = calloc(a->npieces, sizeof *a->from);
    if (!a->buf || !a->st || !a->from) {
        drop_attempt(a);
        return false;
    }
    a->size = size;
    mf_info(f, "fetching %llu bytes of metadata (%u pieces)%s", (unsigned long long)size,
            a->npieces, a->careful ? " from one peer at a time" : "");
    return true;
}

static bool size_has_peer(const sh_metafetch *f, uint64_t size)
{
    for (size_t i = 0; i < f->nconns; i++)
        if (usable(f, f->conns[i]) && (uint64_t)f->conns[i]->size == size) return true;
    return false;
}

static uint32_t strikes_of(const sh_metafetch *f, const sh_addr *a)
{
    for (size_t i = 0; i < f->nips; i++)
        if (sh_addr_ip_eq(&f->ips[i].ip, a)) return f->ips[i].strikes;
    return 0;
}

/* Careful mode: the one peer this attempt asks (fewest strikes, then earliest). */
static void choose_source(sh_metafetch *f)
{
    mf_asm *a = &f->a;
    if (a->source && mf_find(f, a->source)) return;
    if (a->source && a->nhave > 0) { /* a second source would blur who sent what */
        uint64_t size = a->size;
        if (!start_attempt(f, size)) return;
    }
    a->source = 0;
    uint32_t best = UINT32_MAX;
    for (size_t i = 0; i < f->nconns; i++) {
        const mf_conn *c = f->conns[i];
        if (!usable(f, c) || (uint64_t)c->size != a->size) continue;
        uint32_t s = strikes_of(f, &c->addr);
        if (s < best) best = s, a->source = c->id;
    }
}

static long next_missing(const mf_asm *a)
{
    for (uint32_t i = 0; i < a->npieces; i++)
        if (a->st[i] == MF_P_MISSING) return (long)i;
    return -1;
}

void mf_assign(sh_metafetch *f)
{
    mf_asm *a = &f->a;
    if (f->state != SH_MF_RUNNING) return;
    if (a->size == 0 || !size_has_peer(f, a->size)) {
        uint64_t size = choose_size(f);
        if (size == 0 || (size == a->size)) return;
        if (!start_attempt(f, size)) return;
    }
    if (a->careful) choose_source(f);
    for (size_t i = 0; i < f->nconns; i++) {
        mf_conn *c = f->conns[i];
        if (!usable(f, c) || (uint64_t)c->size != a->size) continue;
        if (a->careful && c->id != a->source) continue;
        long p;
        while (!c->dead && c->nreqs < MF_REQS && (p = next_missing(a)) >= 0) {
            a->st[p] = MF_P_ASKED;
            mf_send_request(f, c, (uint32_t)p);
        }
    }
}

/* ---- answers ---- */

/* Removes c's request for piece; returns its attempt, or -1 if there was none. */
static int64_t take_request(mf_conn *c, uint32_t piece)
{
    for (uint32_t i = 0; i < c->nreqs; i++) {
        if (c->reqs[i] != piece) continue;
        int64_t gen = c->req_gen[i];
        c->nreqs--;
        c->reqs[i] = c->reqs[c->nreqs];
        c->req_at[i] = c->req_at[c->nreqs];
        c->req_gen[i] = c->req_gen[c->nreqs];
        return gen;
    }
    return -1;
}

static int violation(sh_metafetch *f, mf_conn *c, const char *why)
{
    mf_close(f, c, SH_EPROTO, true, why);
    return SH_EPROTO;
}

static void verify(sh_metafetch *f);

int mf_on_data(sh_metafetch *f, mf_conn *c, const sh_md_msg *m)
{
    mf_asm *a = &f->a;
    char why[128];
    int64_t gen = take_request(c, m->piece);
    if (gen < 0) {
        if (++c->unsolicited <= MF_MAX_UNSOLICITED) return 0; /* a late answer, perhaps */
        return violation(f, c, "sends metadata pieces nobody asked for");
    }
    if ((uint32_t)gen == a->gen && a->st && a->st[m->piece] == MF_P_ASKED)
        a->st[m->piece] = MF_P_MISSING; /* until it is taken below */
    if (m->total_size >= 0 && m->total_size != c->size) {
        snprintf(why, sizeof why, "total_size %lld differs from its metadata_size %lld",
                 (long long)m->total_size, (long long)c->size);
        return violation(f, c, why);
    }
    f->assign_due = true;
    if ((uint32_t)gen != a->gen || a->size == 0) return 0; /* for an attempt given up */
    uint32_t want = sh_md_piece_len(a->size, m->piece);
    if (m->data.len != want) {
        snprintf(why, sizeof why, "metadata piece %u of %zu bytes, expected %u", m->piece,
                 m->data.len, want);
        return violation(f, c, why);
    }
    if (a->st[m->piece] == MF_P_HAVE) return 0;
    memcpy(a->buf + (size_t)m->piece * SH_MD_PIECE, m->data.ptr, want);
    a->st[m->piece] = MF_P_HAVE;
    a->from[m->piece] = c->addr;
    a->nhave++;
    c->delivered++;
    if (a->nhave == a->npieces) verify(f);
    return 0;
}

void mf_on_reject(sh_metafetch *f, mf_conn *c, const sh_md_msg *m)
{
    int64_t gen = take_request(c, m->piece);
    if (gen < 0) return;
    if ((uint32_t)gen == f->a.gen && f->a.st && m->piece < f->a.npieces &&
        f->a.st[m->piece] == MF_P_ASKED)
        f->a.st[m->piece] = MF_P_MISSING;
    c->refused = true;
    mf_close(f, c, SH_EUNSUPPORTED, true, "refused a metadata request");
}

void mf_asm_conn_gone(sh_metafetch *f, mf_conn *c)
{
    mf_asm *a = &f->a;
    for (uint32_t i = 0; i < c->nreqs; i++)
        if (c->req_gen[i] == a->gen && a->st && c->reqs[i] < a->npieces &&
            a->st[c->reqs[i]] == MF_P_ASKED)
            a->st[c->reqs[i]] = MF_P_MISSING;
    c->nreqs = 0;
    f->assign_due = true;
}

bool mf_asm_check(sh_metafetch *f, mf_conn *c, sh_time now)
{
    for (uint32_t i = 0; i < c->nreqs; i++) {
        if (now - c->req_at[i] < MF_REQ_TIMEOUT) continue;
        mf_close(f, c, SH_ETIMEOUT, true, "a metadata request went unanswered for 20 s");
        return true;
    }
    return false;
}

/* ---- verification ---- */

static bool hashes_match(const sh_metafetch *f, const uint8_t *buf, size_t len)
{
    uint8_t md[32];
    if (f->cfg.has_v1) {
        sh_sha1(buf, len, md);
        if (memcmp(md, f->cfg.btih, 20) != 0) return false;
    }
    if (f->cfg.has_v2) {
        sh_sha256(buf, len, md);
        if (memcmp(md, f->cfg.btmh, 32) != 0) return false;
    }
    return true;
}

static void punish(sh_metafetch *f)
{
    mf_asm *a = &f->a;
    sh_addr who[8];
    uint32_t n = 0, more = 0;
    for (uint32_t i = 0; i < a->npieces; i++) {
        bool seen = false;
        for (uint32_t k = 0; k < n && !seen; k++)
            seen = sh_addr_ip_eq(&who[k], &a->from[i]);
        if (seen) continue;
        if (n < 8)
            who[n++] = a->from[i];
        else
            more++;
    }
    mf_info(f, "%llu bytes of metadata from %u peer%s failed the hash check",
            (unsigned long long)a->size, n + more, n + more == 1 ? "" : "s");
    if (n == 1) {
        mf_strike(f, &who[0], true);
        return;
    }
    for (uint32_t k = 0; k < n; k++)
        mf_strike(f, &who[k], false);
    a->careful = true;
}

static void finish_ok(sh_metafetch *f)
{
    mf_asm *a = &f->a;
    sh_metainfo *mi = NULL;
    sh_errinfo ei = {{0}, 0};
    int rc = sh_metainfo_parse_info(a->buf, a->size, &mi, &ei);
    sh_metainfo_free(mi);
    if (rc != 0) {
        f->state = SH_MF_FAILED;
        f->error = rc;
        snprintf(f->error_msg, sizeof f->error_msg,
                 "the metadata matches the link but is not a valid info dictionary: %.180s",
                 ei.msg[0] ? ei.msg : sh_strerror(rc));
        sh_log(&f->log, SH_LOG_ERROR, MF_LOG, "%s", f->error_msg);
    } else {
        f->state = SH_MF_DONE;
        f->info = a->buf;
        f->info_len = a->size;
        a->buf = NULL;
        mf_info(f, "metadata verified: %zu bytes", f->info_len);
    }
    if (!f->complete_sent) {
        f->complete_sent = true;
        mf_push(f, &(sh_action){.type = SH_ACT_COMPLETE});
    }
}

static void verify(sh_metafetch *f)
{
    mf_asm *a = &f->a;
    if (hashes_match(f, a->buf, a->size)) {
        finish_ok(f);
        return;
    }
    punish(f);
    drop_attempt(a);
    f->assign_due = true;
}
