/*
 * dht_node_state.c — the DHT node's state file: our id and the nodes that
 * answered us, so a restarted node keeps its place in the DHT and needs no
 * bootstrap node. Read once at start, written atomically (temporary file,
 * fsync, rename) periodically and at the end. The file is as hostile as a
 * datagram: the core's loader bounds and checks it; a bad one only costs us
 * the saved table.
 */
#include "io/dht_node_int.h"

#include "io/atomicfile.h"
#include "io/readfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define LOG_TAG "dht"
#define STATE_MAX_BYTES (1u << 20) /* the core refuses more anyway */

void dht_node_state_load(sh_dht_node *n)
{
    if (!n->state_path) return;
    uint8_t *buf = NULL;
    size_t len = 0;
    int err_no = 0;
    int rc = sh_readfile(n->state_path, STATE_MAX_BYTES, &buf, &len, &err_no);
    if (rc == SH_EIO && err_no == ENOENT) {
        sh_log(&n->log, SH_LOG_INFO, LOG_TAG, "%s: no state yet, starting fresh", n->state_path);
        return;
    }
    if (rc) {
        sh_log(&n->log, SH_LOG_WARN, LOG_TAG, "%s: cannot read the state (%s), starting fresh",
               n->state_path, err_no ? strerror(err_no) : sh_strerror(rc));
        return;
    }
    sh_errinfo ei = {{0}, 0};
    rc = sh_dht_load(n->dht, buf, len, sh_loop_now(n->loop), &ei);
    free(buf);
    if (rc) {
        sh_log(&n->log, SH_LOG_WARN, LOG_TAG,
               "%s: not a usable DHT state (%s), starting fresh; it will be overwritten",
               n->state_path, ei.msg[0] ? ei.msg : sh_strerror(rc));
        return;
    }
    n->restored = true;
    sh_log(&n->log, SH_LOG_INFO, LOG_TAG, "%s: state loaded", n->state_path);
}

int sh_dht_node_save(sh_dht_node *n, sh_errinfo *ei)
{
    if (!n->state_path) return sh_errinfo_set(ei, SH_EINVAL, 0, "no state file configured");
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_dht_save(n->dht, &b);
    int rc = b.err ? SH_ENOMEM : 0;
    if (rc) sh_errinfo_set(ei, rc, 0, "%s: out of memory", n->state_path);
    sh_atomicfile af;
    int err_no = 0;
    if (rc == 0) {
        rc = sh_atomicfile_open(&af, n->state_path, &err_no);
        if (rc == 0) rc = sh_atomicfile_commit(&af, b.data, b.len, true, &err_no);
        if (rc)
            sh_errinfo_set(ei, rc, 0, "%s: cannot save the DHT state: %s", n->state_path,
                           err_no ? strerror(err_no) : sh_strerror(rc));
    }
    sh_bbuf_free(&b);
    if (rc)
        n->st.save_failures++;
    else
        n->st.saves++;
    return rc;
}

static void on_save_timer(sh_loop *l, uint64_t id, void *ud)
{
    (void)l;
    (void)id;
    sh_dht_node *n = ud;
    n->save_timer = 0;
    sh_errinfo ei = {{0}, 0};
    if (sh_dht_node_save(n, &ei) < 0) sh_log(&n->log, SH_LOG_WARN, LOG_TAG, "%s", ei.msg);
    dht_node_state_schedule(n);
}

void dht_node_state_schedule(sh_dht_node *n)
{
    if (!n->state_path || n->save_timer) return;
    n->save_timer =
        sh_loop_timer(n->loop, sh_loop_now(n->loop) + n->save_interval, on_save_timer, n);
}
