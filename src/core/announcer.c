/*
 * announcer.c — the schedule: which tier is due, which of its trackers to
 * try, which event to send, and what an answer or a failure changes.
 *
 * Each tier is announced to independently (announce to all tiers). A tier
 * has at most one request in flight; when it is due it asks the first of its
 * trackers that is not backing off. A failure puts that tracker in backoff
 * and lets the tier try its next one at once; an answer moves the tracker to
 * the front of its tier and sets the tier's next announce from the
 * tracker's interval. Nothing here can fail the download: the worst outcome
 * is a tier that stays quiet until a tracker comes back.
 */
#include "announcer_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX

static sh_time max_t(sh_time x, sh_time y)
{
    return x > y ? x : y;
}
static sh_time min_t(sh_time x, sh_time y)
{
    return x < y ? x : y;
}

static const char *event_text(sh_tevent ev)
{
    switch (ev) {
    case SH_TEV_STARTED:
        return "started";
    case SH_TEV_COMPLETED:
        return "completed";
    case SH_TEV_STOPPED:
        return "stopped";
    default:
        return "interval";
    }
}

/* ---- creation ---- */

static bool have_url(const sh_announcer *a, const char *url)
{
    for (uint32_t i = 0; i < a->ntrk; i++)
        if (strcmp(a->trk[i].url, url) == 0) return true;
    return false;
}

static int add_tracker(sh_announcer *a, ann_tier *tier, uint32_t tier_no, const char *url)
{
    if (have_url(a, url)) return 0;
    if (a->ntrk == SH_ANN_MAX_TRACKERS) {
        sh_log(&a->cfg.log, SH_LOG_WARN, ANN_COMPONENT, "more than %u trackers: ignoring %.200s",
               SH_ANN_MAX_TRACKERS, url);
        return 0;
    }
    ann_tracker *t = &a->trk[a->ntrk];
    memset(t, 0, sizeof *t);
    t->url = strndup(url, ANN_URL_MAX);
    if (!t->url) return SH_ENOMEM;
    t->tier = tier_no;
    sh_errinfo ei = {{0}, 0};
    if (ann_parse_url(url, &t->kind, t->host, &t->port, &ei)) {
        t->kind = KIND_BAD;
        snprintf(t->last_error, sizeof t->last_error, "unusable URL: %.100s", ei.msg);
        sh_log(&a->cfg.log, SH_LOG_WARN, ANN_COMPONENT, "%.200s: %s (never contacted)", url,
               t->last_error);
    } else if (t->kind == KIND_UDP && sh_addr_parse_ip(t->host, strlen(t->host), &t->addr) == 0) {
        t->addr.port = t->port; /* an IP literal needs no resolving */
        t->resolved = true;
    }
    tier->order[tier->count++] = a->ntrk++;
    return 0;
}

static uint32_t count_urls(const sh_announcer_config *cfg)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < cfg->num_tiers; i++)
        n += cfg->tiers[i].count;
    return n > SH_ANN_MAX_TRACKERS ? SH_ANN_MAX_TRACKERS : (uint32_t)n;
}

static int build(sh_announcer *a, const sh_announcer_config *cfg, sh_time now)
{
    uint32_t n = count_urls(cfg);
    a->trk = calloc(n ? n : 1, sizeof *a->trk);
    a->tiers = calloc(cfg->num_tiers ? cfg->num_tiers : 1, sizeof *a->tiers);
    if (!a->trk || !a->tiers) return SH_ENOMEM;
    for (uint32_t i = 0; i < cfg->num_tiers; i++) {
        const sh_tier *src = &cfg->tiers[i];
        ann_tier *tier = &a->tiers[a->ntiers];
        if (!tier->order) tier->order = calloc(n ? n : 1, sizeof *tier->order);
        if (!tier->order) return SH_ENOMEM;
        tier->active = NONE;
        tier->next = now;
        for (uint32_t j = 0; j < src->count; j++)
            if (src->urls && src->urls[j] && add_tracker(a, tier, a->ntiers, src->urls[j]))
                return SH_ENOMEM;
        /* a tier whose URLs were all duplicates or over the limit: reuse its slot */
        if (tier->count) a->ntiers++;
    }
    return 0;
}

int sh_announcer_new(const sh_announcer_config *cfg, sh_time now, sh_announcer **out)
{
    if (!cfg || !out || (cfg->num_tiers && !cfg->tiers)) return SH_EINVAL;
    sh_announcer *a = calloc(1, sizeof *a);
    if (!a) return SH_ENOMEM;
    a->cfg = *cfg;
    a->cfg.tiers = NULL; /* borrowed: copied below, never kept */
    a->cfg.num_tiers = 0;
    if (a->cfg.numwant == 0) a->cfg.numwant = SH_NUMWANT_DEFAULT;
    if (a->cfg.numwant > SH_NUMWANT_MAX) a->cfg.numwant = SH_NUMWANT_MAX;
    sh_rng_seed(&a->rng, cfg->seed);
    a->tier_slots = cfg->num_tiers;
    int rc = build(a, cfg, now);
    if (rc) {
        sh_announcer_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void sh_announcer_free(sh_announcer *a)
{
    if (!a) return;
    for (uint32_t i = 0; i < a->ntrk; i++)
        free(a->trk[i].url);
    for (uint32_t i = 0; i < a->tier_slots && a->tiers; i++)
        free(a->tiers[i].order);
    free(a->trk);
    free(a->tiers);
    ann_queue_free(a);
    free(a);
}

void sh_announcer_set_totals(sh_announcer *a, uint64_t uploaded, uint64_t downloaded, uint64_t left)
{
    a->uploaded = uploaded;
    a->downloaded = downloaded;
    a->left = left;
}

void ann_build_req(const sh_announcer *a, sh_tevent ev, sh_announce_req *r)
{
    memset(r, 0, sizeof *r);
    memcpy(r->info_hash, a->cfg.info_hash, 20);
    memcpy(r->peer_id, a->cfg.peer_id, 20);
    r->addr.port = a->cfg.port;
    r->uploaded = a->uploaded;
    r->downloaded = a->downloaded;
    r->left = a->left;
    r->event = ev;
    /* a peer that is leaving wants nobody */
    r->numwant = ev == SH_TEV_STOPPED ? 0 : a->cfg.numwant;
    r->key = a->cfg.key;
    r->compact = true;
}

/* ---- starting requests ---- */

static void start(sh_announcer *a, ann_tracker *t, sh_tevent ev, bool final, sh_time now)
{
    t->event = ev;
    t->final = final;
    sh_log(&a->cfg.log, SH_LOG_DEBUG, ANN_COMPONENT, "announce %s to %s", event_text(ev), t->url);
    if (t->kind == KIND_HTTP)
        ann_http_start(a, t, now);
    else
        ann_udp_start(a, t, now);
}

static sh_tevent event_for(const ann_tier *tier, const ann_tracker *t)
{
    if (!t->started_ok) return SH_TEV_STARTED;
    return tier->completed_pending ? SH_TEV_COMPLETED : SH_TEV_NONE;
}

/* When the tier can next ask one of its trackers: now, or when the first
 * backoff ends (SH_TIME_NEVER if none is usable). *pick: the tracker. */
static sh_time tier_wake(const sh_announcer *a, const ann_tier *tier, sh_time now, uint32_t *pick)
{
    sh_time wake = SH_TIME_NEVER;
    *pick = NONE;
    for (uint32_t i = 0; i < tier->count; i++) {
        const ann_tracker *t = &a->trk[tier->order[i]];
        if (t->kind == KIND_BAD) continue;
        if (t->retry_at <= now) {
            *pick = tier->order[i];
            return now;
        }
        wake = min_t(wake, t->retry_at);
    }
    return wake;
}

/* The tier is due: ask its first tracker not backing off, or wait for one. */
static void tier_due(sh_announcer *a, ann_tier *tier, sh_time now)
{
    uint32_t pick;
    tier->next = tier_wake(a, tier, now, &pick);
    if (pick == NONE) return;
    ann_tracker *t = &a->trk[pick];
    tier->active = pick;
    tier->next = SH_TIME_NEVER;
    start(a, t, event_for(tier, t), false, now);
}

/* ---- outcomes ---- */

static void move_to_front(ann_tier *tier, uint32_t idx)
{
    uint32_t i = 0;
    while (i < tier->count && tier->order[i] != idx)
        i++;
    for (; i > 0 && i < tier->count; i--)
        tier->order[i] = tier->order[i - 1];
    tier->order[0] = idx;
}

/* After an answer: the tracker's interval; or at once when completed is
 * still owed. Like libtorrent, completed is not held back by the min
 * interval: the tracker should learn at once that we are a seed, and a peer
 * that leaves right after finishing must get it out before its stopped. */
static void schedule_after_answer(ann_tier *tier, const sh_announce_reply *r, sh_time now)
{
    uint32_t iv = r->interval ? r->interval : ANN_DEFAULT_INTERVAL;
    uint32_t mi = r->min_interval;
    if (iv > ANN_MAX_INTERVAL) iv = ANN_MAX_INTERVAL;
    if (mi > ANN_MAX_INTERVAL) mi = ANN_MAX_INTERVAL;
    tier->min_gap = max_t(SH_SEC(mi), ANN_MIN_GAP);
    tier->next = now + max_t(SH_SEC(iv), tier->min_gap);
    if (tier->completed_pending) tier->next = now;
}

static void finish(sh_announcer *a, ann_tracker *t)
{
    t->phase = PH_IDLE;
    t->final = false;
    if (a->tiers[t->tier].active == (uint32_t)(t - a->trk)) a->tiers[t->tier].active = NONE;
}

/* Stopping, and the announce that was in flight has ended: now stopped,
 * if the tracker knows us. */
static void after_stop(sh_announcer *a, ann_tracker *t, sh_time now)
{
    bool go = t->stop_next && t->started_ok;
    t->stop_next = false;
    if (go) start(a, t, SH_TEV_STOPPED, true, now);
}

static void hand_out_peers(sh_announcer *a, ann_tracker *t, sh_announce_reply *r)
{
    t->last_peers = r->num_peers;
    if (r->num_peers == 0) return;
    sh_ann_action act = {.type = SH_ANN_PEERS, .peers = r->peers, .num_peers = r->num_peers};
    void *own = r->peers;
    r->peers = NULL;
    r->num_peers = 0;
    ann_push(a, &act, own, NULL);
}

void ann_success(sh_announcer *a, ann_tracker *t, sh_announce_reply *r, sh_time now)
{
    bool final = t->final;
    sh_tevent ev = t->event;
    finish(a, t);
    t->working = true;
    t->fails = 0;
    t->retry_at = 0;
    if (r->warning[0])
        sh_log(&a->cfg.log, SH_LOG_WARN, ANN_COMPONENT, "%s: warning: %s", t->url, r->warning);
    sh_log(&a->cfg.log, SH_LOG_INFO, ANN_COMPONENT,
           "%s: %s announce ok: %u peers, interval %u s, %u seeds, %u leechers", t->url,
           event_text(ev), r->num_peers, r->interval, r->complete, r->incomplete);
    if (final) {
        t->started_ok = false;
        return;
    }
    if (ev == SH_TEV_STARTED) t->started_ok = true;
    if (a->stopping) {
        after_stop(a, t, now);
        return;
    }
    ann_tier *tier = &a->tiers[t->tier];
    if (ev == SH_TEV_COMPLETED) tier->completed_pending = false;
    move_to_front(tier, (uint32_t)(t - a->trk));
    schedule_after_answer(tier, r, now);
    hand_out_peers(a, t, r);
}

static sh_time backoff(uint32_t fails)
{
    sh_time d = ANN_BACKOFF_FIRST;
    for (uint32_t i = 1; i < fails && d < ANN_BACKOFF_MAX; i++)
        d *= 2;
    return min_t(d, ANN_BACKOFF_MAX);
}

void ann_failure(sh_announcer *a, ann_tracker *t, const char *why, sh_time now)
{
    bool final = t->final;
    sh_tevent ev = t->event;
    finish(a, t);
    t->working = false;
    snprintf(t->last_error, sizeof t->last_error, "%s", why);
    if (final) {
        sh_log(&a->cfg.log, SH_LOG_INFO, ANN_COMPONENT, "%s: stopped announce failed: %s", t->url,
               why);
        return;
    }
    if (t->fails < UINT32_MAX) t->fails++;
    t->retry_at = now + backoff(t->fails);
    if (a->stopping) {
        sh_log(&a->cfg.log, SH_LOG_INFO, ANN_COMPONENT, "%s: %s announce failed: %s", t->url,
               event_text(ev), why);
        after_stop(a, t, now);
        return;
    }
    sh_log(&a->cfg.log, SH_LOG_WARN, ANN_COMPONENT,
           "%s: %s announce failed: %s; retry in %llu s (failure %u)", t->url, event_text(ev), why,
           (unsigned long long)(backoff(t->fails) / SH_SEC(1)), t->fails);
    /* the tier's next tracker now, if one is not backing off */
    uint32_t pick;
    a->tiers[t->tier].next = tier_wake(a, &a->tiers[t->tier], now, &pick);
}

/* ---- events from the driver ---- */

void sh_announcer_completed(sh_announcer *a, sh_time now)
{
    if (a->stopping || a->completed) return; /* told once per run */
    a->completed = true;
    for (uint32_t i = 0; i < a->ntiers; i++) {
        ann_tier *tier = &a->tiers[i];
        tier->completed_pending = true;
        if (tier->active != NONE) continue; /* rescheduled when the answer comes */
        tier->next = min_t(tier->next, now);
    }
}

static void abandon(sh_announcer *a, ann_tracker *t)
{
    if (t->phase == PH_HTTP) ann_http_cancel(a, t);
    t->stop_next = false;
    finish(a, t);
}

/* Stopping: who gets a stopped announce, and when. */
static void stop_one(sh_announcer *a, ann_tracker *t, sh_time now)
{
    if (t->phase == PH_IDLE) {
        if (t->started_ok) start(a, t, SH_TEV_STOPPED, true, now);
    } else if (t->phase == PH_UDP_CONNECT) {
        /* nothing about us was sent yet: announce stopped with the id, or not at all */
        if (t->started_ok) {
            t->event = SH_TEV_STOPPED;
            t->final = true;
        } else {
            abandon(a, t);
        }
    } else {
        /* an announce is out (a started, or a completed that should count):
         * let it finish, then say stopped, all within the deadline */
        t->stop_next = true;
    }
}

void sh_announcer_stop(sh_announcer *a, sh_time now)
{
    if (a->stopping) return;
    a->stopping = true;
    a->stop_deadline = now + ANN_STOP_DEADLINE;
    for (uint32_t i = 0; i < a->ntiers; i++)
        a->tiers[i].next = SH_TIME_NEVER;
    for (uint32_t i = 0; i < a->ntrk; i++)
        stop_one(a, &a->trk[i], now);
}

bool sh_announcer_idle(const sh_announcer *a)
{
    if (!a->stopping) return false;
    for (uint32_t i = 0; i < a->ntrk; i++)
        if (a->trk[i].phase != PH_IDLE) return false;
    return true;
}

/* ---- time ---- */

static void stop_timer(sh_announcer *a, sh_time now)
{
    if (now < a->stop_deadline) return;
    for (uint32_t i = 0; i < a->ntrk; i++) {
        ann_tracker *t = &a->trk[i];
        if (t->phase == PH_IDLE) continue;
        snprintf(t->last_error, sizeof t->last_error, "stopped announce: no answer in time");
        sh_log(&a->cfg.log, SH_LOG_INFO, ANN_COMPONENT, "%s: giving up the stopped announce",
               t->url);
        abandon(a, t);
    }
}

void sh_announcer_on_timer(sh_announcer *a, sh_time now)
{
    for (uint32_t i = 0; i < a->ntrk; i++) {
        ann_tracker *t = &a->trk[i];
        if (t->phase == PH_IDLE || now < t->deadline) continue;
        if (t->phase == PH_HTTP)
            ann_http_timer(a, t, now);
        else
            ann_udp_timer(a, t, now);
    }
    if (a->stopping) {
        stop_timer(a, now);
        return;
    }
    for (uint32_t i = 0; i < a->ntiers; i++) {
        ann_tier *tier = &a->tiers[i];
        if (tier->active == NONE && tier->next <= now) tier_due(a, tier, now);
    }
}

sh_time sh_announcer_next_deadline(const sh_announcer *a)
{
    sh_time d = SH_TIME_NEVER;
    bool busy = false;
    for (uint32_t i = 0; i < a->ntrk; i++) {
        if (a->trk[i].phase == PH_IDLE) continue;
        busy = true;
        d = min_t(d, a->trk[i].deadline);
    }
    if (a->stopping) return busy ? min_t(d, a->stop_deadline) : SH_TIME_NEVER;
    for (uint32_t i = 0; i < a->ntiers; i++)
        if (a->tiers[i].active == NONE) d = min_t(d, a->tiers[i].next);
    return d;
}

/* ---- status ---- */

static sh_time tracker_next(const sh_announcer *a, const ann_tracker *t)
{
    if (t->phase != PH_IDLE) return t->deadline;
    if (t->kind == KIND_BAD || a->stopping) return SH_TIME_NEVER;
    return max_t(a->tiers[t->tier].next, t->retry_at);
}

size_t sh_announcer_trackers(const sh_announcer *a, sh_tracker_status *out, size_t max)
{
    size_t n = 0;
    for (uint32_t i = 0; i < a->ntiers; i++) {
        const ann_tier *tier = &a->tiers[i];
        for (uint32_t j = 0; j < tier->count && n < max; j++) {
            const ann_tracker *t = &a->trk[tier->order[j]];
            sh_tracker_status *s = &out[n++];
            s->url = t->url;
            s->tier = t->tier;
            s->working = t->working;
            s->fails = t->fails;
            s->last_peers = t->last_peers;
            s->next = tracker_next(a, t);
            memcpy(s->last_error, t->last_error, sizeof s->last_error);
        }
    }
    return n;
}
