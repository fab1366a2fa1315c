/*
 * swarm_piece.c — from a complete buffer to a verified piece.
 *
 * A complete piece is handed to the driver (SH_ACT_VERIFY) and its buffer
 * kept until the verdict. A good piece is announced to every peer, may end
 * our interest in some, and the last one completes the download: seeds are
 * dropped (two seeds have nothing to trade) and the others learn we are
 * upload-only. A bad piece is downloaded again; who sent it is punished:
 * a peer that sent every block is banned at once, contributors to a shared
 * piece get a strike each (SW_BAN_STRIKES strikes ban).
 */
#include "swarm_int.h"

#include <string.h>

void sw_piece_done(sh_swarm *s, sh_asm_piece *ap, sh_time now)
{
    ap->verifying = true;
    sw_debug(s, "piece %u complete: verifying", ap->piece);
    sw_push(s, &(sh_action){
                   .type = SH_ACT_VERIFY, .piece = ap->piece, .data = ap->buf, .len = ap->len});
}

static void on_complete(sh_swarm *s, sh_time now)
{
    if (!s->complete_sent) {
        s->complete_sent = true;
        sw_info(s, "download complete: %u pieces", s->mi->num_pieces);
        sw_push(s, &(sh_action){.type = SH_ACT_COMPLETE});
    }
    for (size_t i = 0; i < s->npeers; i++) {
        sh_peer *p = s->peers[i];
        if (p->dead || p->state != SH_PEER_ACTIVE) continue;
        if (p->seed) {
            sw_close(s, p, SH_ECLOSED, true, now, "both sides are seeds");
            continue;
        }
        if (p->ext) sw_send_ext_handshake(s, p, now); /* upload_only */
    }
}

static void good_piece(sh_swarm *s, uint32_t piece, sh_time now)
{
    sh_asm_drop(&s->pieces, piece);
    if (sh_picker_have(s->picker, piece)) return;
    sh_picker_set_have(s->picker, piece);
    /* The piece freed a max_partial slot: with hashing behind the network,
     * every partial may have been waiting on verification, so nothing else
     * would restart requesting. */
    s->refill = true;
    s->left -= sh_metainfo_piece_size(s->mi, piece);
    sw_debug(s, "piece %u verified (%u/%u)", piece, sh_picker_num_have(s->picker),
             s->mi->num_pieces);
    for (size_t i = 0; i < s->npeers; i++) {
        sh_peer *p = s->peers[i];
        if (p->dead || p->state != SH_PEER_ACTIVE) continue;
        size_t mark;
        sh_wire_put_have(sw_out(s, p, &mark), SH_MSG_HAVE, piece);
        sw_out_done(s, p, mark, now);
        if (p->am_interested && (p->seed || sh_bitfield_get(&p->have, piece)))
            sw_update_interest(s, p, now);
    }
    if (sw_complete(s)) on_complete(s, now);
}

static void bad_piece(sh_swarm *s, sh_asm_piece *ap, sh_time now)
{
    uint32_t piece = ap->piece, n = ap->ncontrib;
    sh_addr who[SH_ASM_MAX_CONTRIB];
    memcpy(who, ap->contrib, sizeof who);
    s->hash_failures++;
    s->wasted += ap->len;
    s->payload_down -= s->payload_down < ap->len ? s->payload_down : ap->len;
    sh_asm_drop(&s->pieces, piece);
    sh_picker_piece_failed(s->picker, piece);
    s->refill = true;
    sw_info(s, "piece %u failed its hash check (%u contributor%s)", piece, n, n == 1 ? "" : "s");
    for (uint32_t i = 0; i < n; i++)
        sw_strike(s, &who[i], n == 1, now);
}

void sw_verified(sh_swarm *s, uint32_t piece, bool ok, sh_time now)
{
    sh_asm_piece *ap = sh_asm_find(&s->pieces, piece);
    if (!ap || !ap->verifying) {
        sw_debug(s, "verify result for piece %u that is not being verified: ignored", piece);
        return;
    }
    if (ok) {
        s->downloaded = true;
        good_piece(s, piece, now);
    } else
        bad_piece(s, ap, now);
}
