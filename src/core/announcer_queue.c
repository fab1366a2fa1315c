/*
 * announcer_queue.c — the announcer's outbox: a FIFO of actions that own
 * their URL, datagram or peer list until the driver has taken the next one.
 * Keeping the last handed-out item alive is what makes the pointers in an
 * sh_ann_action valid "until the next call".
 */
#include "announcer_int.h"

#include <stdlib.h>
#include <string.h>

static void item_free(ann_qitem *it)
{
    free(it->own[0]);
    free(it->own[1]);
    memset(it, 0, sizeof *it);
}

static int grow(sh_announcer *a)
{
    size_t cap = a->qcap ? a->qcap * 2 : 16;
    ann_qitem *q = malloc(cap * sizeof *q);
    if (!q) return SH_ENOMEM;
    for (size_t i = 0; i < a->qlen; i++)
        q[i] = a->q[(a->qhead + i) % a->qcap];
    free(a->q);
    a->q = q;
    a->qcap = cap;
    a->qhead = 0;
    return 0;
}

int ann_push(sh_announcer *a, const sh_ann_action *act, void *own0, void *own1)
{
    if (a->qlen == a->qcap && grow(a)) {
        free(own0);
        free(own1);
        return SH_ENOMEM;
    }
    ann_qitem *it = &a->q[(a->qhead + a->qlen) % a->qcap];
    it->act = *act;
    it->own[0] = own0;
    it->own[1] = own1;
    a->qlen++;
    return 0;
}

bool sh_announcer_next_action(sh_announcer *a, sh_ann_action *out)
{
    item_free(&a->cur);
    if (a->qlen == 0) return false;
    a->cur = a->q[a->qhead];
    a->qhead = (a->qhead + 1) % a->qcap;
    a->qlen--;
    *out = a->cur.act;
    return true;
}

void ann_queue_free(sh_announcer *a)
{
    while (a->qlen) {
        item_free(&a->q[a->qhead]);
        a->qhead = (a->qhead + 1) % a->qcap;
        a->qlen--;
    }
    item_free(&a->cur);
    free(a->q);
    a->q = NULL;
    a->qcap = 0;
}
