/*
 * swarm_meta.c — serving the torrent's info dictionary to peers that
 * fetch it with ut_metadata (BEP 9), e.g. after a magnet link.
 *
 * A request for a piece that exists is answered with a data message (the
 * dictionary, then the raw 16 KiB slice; the last one shorter); a bad
 * index gets a reject, and so does every request beyond SW_MD_MAX_REQS per
 * peer per SW_MD_WINDOW (a whole 16 MiB info dictionary is 1024 pieces,
 * but real ones are a few; a peer asking more is looping or hostile).
 * Answers go out at once: at most 17 KiB each and bounded per window, so
 * the output queue cannot be flooded. Data and reject messages are
 * ignored: a swarm never asks for metadata (src/core/metafetch.c does). A
 * payload that does not parse closes the connection, as in libtorrent.
 */
#include "swarm_ext.h"

#include <shoal/metadata.h>

static void answer(sh_swarm *s, sh_peer *p, sh_md_type type, uint32_t piece, sh_time now)
{
    const sh_metainfo *mi = s->mi;
    sh_bbuf b;
    sh_bbuf_init(&b);
    if (type == SH_MD_DATA)
        sh_md_encode(&b, SH_MD_DATA, piece, (int64_t)mi->info_len,
                     mi->info + (size_t)piece * SH_MD_PIECE, sh_md_piece_len(mi->info_len, piece));
    else
        sh_md_encode(&b, SH_MD_REJECT, piece, -1, NULL, 0);
    sw_ext_send(s, p, p->ext_hs.ut_metadata, &b, now);
    sh_bbuf_free(&b);
}

int sw_meta_on_message(sh_swarm *s, sh_peer *p, sw_xpeer *xp, const sh_msg *m, sh_time now)
{
    sh_md_msg md;
    sh_errinfo ei = {{0}, 0};
    int rc = sh_md_parse(m->data.ptr, m->data.len, &md, &ei);
    if (rc == SH_ENOMEM) return 0;
    if (rc < 0) {
        sw_close(s, p, SH_EPROTO, true, now, ei.msg[0] ? ei.msg : "malformed ut_metadata message");
        return SH_EPROTO;
    }
    if (md.type != SH_MD_REQUEST) return 0;
    if (p->ext_hs.ut_metadata == 0) return 0; /* it gave us no id to answer with */
    if (xp->md_win_reqs == 0 || now - xp->md_win >= SW_MD_WINDOW) {
        xp->md_win = now;
        xp->md_win_reqs = 0;
    }
    bool ok = md.piece < sh_md_pieces(s->mi->info_len) && xp->md_win_reqs < SW_MD_MAX_REQS;
    xp->md_win_reqs++;
    sw_debug(s, "conn %llu: ut_metadata request for piece %u: %s", (unsigned long long)p->id,
             md.piece, ok ? "served" : "rejected");
    answer(s, p, ok ? SH_MD_DATA : SH_MD_REJECT, md.piece, now);
    return 0;
}
