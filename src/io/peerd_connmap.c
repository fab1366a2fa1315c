/*
 * peerd_connmap.c — the peer driver's connections by swarm id. Ids only
 * grow, so appending keeps the table sorted and lookups are binary
 * searches; iteration is in id order, never by address.
 */
#include "io/peerd_int.h"

#include <stdlib.h>
#include <string.h>

static size_t lower_bound(const connmap *m, sh_conn_id id)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->v[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

pconn *connmap_find(const connmap *m, sh_conn_id id)
{
    size_t i = lower_bound(m, id);
    return i < m->n && m->v[i]->id == id ? m->v[i] : NULL;
}

int connmap_add(connmap *m, pconn *c)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        pconn **v = realloc(m->v, cap * sizeof *v);
        if (!v) return SH_ENOMEM;
        m->v = v;
        m->cap = cap;
    }
    size_t i = lower_bound(m, c->id);
    if (i < m->n && m->v[i]->id == c->id) return SH_EEXIST;
    memmove(m->v + i + 1, m->v + i, (m->n - i) * sizeof *m->v);
    m->v[i] = c;
    m->n++;
    return 0;
}

void connmap_remove(connmap *m, sh_conn_id id)
{
    size_t i = lower_bound(m, id);
    if (i >= m->n || m->v[i]->id != id) return;
    memmove(m->v + i, m->v + i + 1, (m->n - i - 1) * sizeof *m->v);
    m->n--;
}

void connmap_free(connmap *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->v[i]);
    free(m->v);
    m->v = NULL;
    m->n = m->cap = 0;
}

int idvec_push(idvec *v, sh_conn_id id)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        sh_conn_id *n = realloc(v->v, cap * sizeof *n);
        if (!n) return SH_ENOMEM;
        v->v = n;
        v->cap = cap;
    }
    v->v[v->n++] = id;
    return 0;
}
