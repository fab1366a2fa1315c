/* peer.c — allocation and the bounded lists of one connection (see peer.h). */
#include "peer.h"

#include <stdlib.h>
#include <string.h>

int sh_peer_new(sh_conn_id id, const sh_addr *addr, bool outgoing, uint32_t num_pieces,
                const sh_wire_limits *lim, sh_time now, sh_peer **out)
{
    sh_peer *p = calloc(1, sizeof *p);
    if (!p) return SH_ENOMEM;
    p->id = id;
    p->addr = *addr;
    p->outgoing = outgoing;
    p->state = outgoing ? SH_PEER_CONNECTING : SH_PEER_HANDSHAKE;
    p->am_choking = p->peer_choking = true;
    p->max_req = SH_WIRE_BLOCK;
    p->max_run = 1;
    p->last_recv = p->last_send = now;
    sh_rate_init(&p->down_rate, now);
    sh_rate_init(&p->up_rate, now);
    sh_outq_init(&p->out);
    if (sh_bitfield_init(&p->have, num_pieces) < 0 || sh_wire_dec_new(lim, &p->dec) < 0) {
        sh_peer_free(p);
        return SH_ENOMEM;
    }
    *out = p;
    return 0;
}

void sh_peer_free(sh_peer *p)
{
    if (!p) return;
    sh_wire_dec_free(p->dec);
    sh_outq_free(&p->out);
    sh_bitfield_free(&p->have);
    sh_bitfield_free(&p->allowed);
    free(p->reqs);
    free(p->late);
    free(p->inq);
    free(p);
}

static int grow(void **v, uint32_t *cap, size_t elem, uint32_t need)
{
    if (need <= *cap) return 0;
    uint32_t ncap = *cap ? *cap * 2 : 8;
    while (ncap < need)
        ncap *= 2;
    void *n = realloc(*v, (size_t)ncap * elem);
    if (!n) return SH_ENOMEM;
    *v = n;
    *cap = ncap;
    return 0;
}

int sh_peer_req_add(sh_peer *p, const sh_req *r)
{
    if (grow((void **)&p->reqs, &p->capreqs, sizeof *p->reqs, p->nreqs + 1) < 0) return SH_ENOMEM;
    p->reqs[p->nreqs++] = *r;
    return 0;
}

long sh_peer_req_find(const sh_peer *p, uint32_t piece, uint32_t offset, uint32_t len)
{
    for (uint32_t i = 0; i < p->nreqs; i++) {
        const sh_req *r = &p->reqs[i];
        if (r->piece == piece && r->block * SH_WIRE_BLOCK == offset && r->len == len) return i;
    }
    return -1;
}

long sh_peer_req_covering(const sh_peer *p, uint32_t piece, uint32_t block)
{
    for (uint32_t i = 0; i < p->nreqs; i++) {
        const sh_req *r = &p->reqs[i];
        if (r->piece == piece && block >= r->block && block - r->block < r->count) return i;
    }
    return -1;
}

void sh_peer_req_remove(sh_peer *p, uint32_t i)
{
    if (i >= p->nreqs) return;
    memmove(p->reqs + i, p->reqs + i + 1, (p->nreqs - i - 1) * sizeof *p->reqs);
    p->nreqs--;
}

static void late_drop_front(sh_peer *p, uint32_t n)
{
    memmove(p->late, p->late + n, (p->nlate - n) * sizeof *p->late);
    p->nlate -= n;
}

void sh_peer_late_add(sh_peer *p, const sh_req *r, sh_time now)
{
    uint32_t stale = 0;
    while (stale < p->nlate && now - p->late[stale].at >= SH_PEER_LATE_TTL)
        stale++;
    if (stale) late_drop_front(p, stale);
    if (p->nlate == SH_PEER_LATE_MAX) late_drop_front(p, 1);
    if (grow((void **)&p->late, &p->caplate, sizeof *p->late, p->nlate + 1) < 0) return;
    sh_req e = *r;
    e.at = now;
    p->late[p->nlate++] = e;
}

int sh_peer_late_take(sh_peer *p, uint32_t piece, uint32_t offset, uint32_t len, sh_time now,
                      sh_req *out)
{
    for (uint32_t i = p->nlate; i-- > 0;) {
        const sh_req *r = &p->late[i];
        if (r->piece != piece || r->block * SH_WIRE_BLOCK != offset || r->len != len) continue;
        bool fresh = now - r->at < SH_PEER_LATE_TTL;
        if (out) *out = *r;
        memmove(p->late + i, p->late + i + 1, (p->nlate - i - 1) * sizeof *p->late);
        p->nlate--;
        return fresh ? 1 : 0;
    }
    return SH_ENOTFOUND;
}

int sh_peer_inq_push(sh_peer *p, const sh_inreq *r)
{
    if (p->inq_head > 0 && p->inq_head + p->ninq == p->capinq) {
        memmove(p->inq, p->inq + p->inq_head, p->ninq * sizeof *p->inq);
        p->inq_head = 0;
    }
    if (grow((void **)&p->inq, &p->capinq, sizeof *p->inq, p->inq_head + p->ninq + 1) < 0)
        return SH_ENOMEM;
    p->inq[p->inq_head + p->ninq++] = *r;
    return 0;
}

const sh_inreq *sh_peer_inq_front(const sh_peer *p)
{
    return p->ninq ? &p->inq[p->inq_head] : NULL;
}

void sh_peer_inq_pop(sh_peer *p)
{
    if (!p->ninq) return;
    p->inq_head++;
    if (--p->ninq == 0) p->inq_head = 0;
}

bool sh_peer_inq_remove(sh_peer *p, const sh_inreq *r)
{
    sh_inreq *q = p->inq + p->inq_head;
    for (uint32_t i = 0; i < p->ninq; i++) {
        if (q[i].piece != r->piece || q[i].offset != r->offset || q[i].len != r->len) continue;
        memmove(q + i, q + i + 1, (p->ninq - i - 1) * sizeof *q);
        if (--p->ninq == 0) p->inq_head = 0;
        return true;
    }
    return false;
}
