/*
 * metainfo_trackers.c — the keys around the info dictionary: BEP 12
 * announce-list (or the single announce), BEP 19 url-list, and the
 * descriptive comment, created by and creation date.
 *
 * Policy: a known key with the wrong type is an error (like every other
 * field of the loader), so a list holding a non-string URL is rejected, not
 * skipped. Empty URLs and empty tiers are skipped; an announce-list that
 * yields no URL falls back to announce. URLs holding NUL are rejected (they
 * would be cut as C strings), longer than SH_MI_MAX_URL is SH_ELIMIT.
 */
#include "metainfo_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Checks a URL string; *keep false for an empty one (skipped, not an error). */
static int check_url(const sh_bnode *u, const char *field, bool *keep, sh_errinfo *ei)
{
    if (u->type != SH_BSTR) return sh_errinfo_set(ei, SH_EMETAINFO, 0, "%s is not a string", field);
    if (u->v.s.len > SH_MI_MAX_URL)
        return sh_errinfo_set(ei, SH_ELIMIT, 0, "%s has %zu bytes, more than %u", field, u->v.s.len,
                              SH_MI_MAX_URL);
    if (memchr(u->v.s.ptr, 0, u->v.s.len))
        return sh_errinfo_set(ei, SH_EMETAINFO, 0, "%s contains NUL", field);
    *keep = u->v.s.len > 0;
    return 0;
}

/* Appends copies of the URLs of list (or of one string) to *urls. */
static int add_urls(const sh_bnode *v, const char *field, char ***urls, uint32_t *n, sh_errinfo *ei)
{
    uint32_t max = v->type == SH_BLIST ? v->count : 1;
    char **a = calloc(max ? max : 1, sizeof *a);
    *urls = a; /* even NULL: the slot may hold a freed pointer */
    if (!a) return SH_ENOMEM;
    const sh_bnode *u = v->type == SH_BLIST ? sh_bnode_first(v) : v;
    for (uint32_t j = 0; u; j++) {
        char uf[96];
        bool keep = false;
        if (v->type == SH_BLIST) snprintf(uf, sizeof uf, "%s[%u]", field, j);
        int rc = check_url(u, v->type == SH_BLIST ? uf : field, &keep, ei);
        if (rc) return rc;
        if (keep && !(a[(*n)++] = sh_mi_strdup(u->v.s))) return SH_ENOMEM;
        u = v->type == SH_BLIST ? sh_bnode_next(v, u) : NULL;
    }
    return 0;
}

static void free_urls(char **urls, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        free(urls[i]);
    free(urls);
}

static int load_announce_list(sh_metainfo *mi, const sh_bnode *al, sh_errinfo *ei)
{
    if (al->type != SH_BLIST)
        return sh_errinfo_set(ei, SH_EMETAINFO, 0, "announce-list is not a list");
    mi->tiers = calloc(al->count ? al->count : 1, sizeof *mi->tiers);
    if (!mi->tiers) return SH_ENOMEM;
    uint32_t i = 0;
    for (const sh_bnode *t = sh_bnode_first(al); t; t = sh_bnode_next(al, t), i++) {
        char field[48];
        snprintf(field, sizeof field, "announce-list[%u]", i);
        if (t->type != SH_BLIST)
            return sh_errinfo_set(ei, SH_EMETAINFO, 0, "%s is not a list", field);
        sh_tier *tier = &mi->tiers[mi->num_tiers++]; /* counted now so free sees it */
        int rc = add_urls(t, field, &tier->urls, &tier->count, ei);
        if (rc) return rc;
        if (tier->count == 0) { /* an empty tier is skipped */
            free(tier->urls);
            mi->num_tiers--;
        }
    }
    return 0;
}

static int load_announce(sh_metainfo *mi, const sh_bnode *a, sh_errinfo *ei)
{
    bool keep = false;
    int rc = check_url(a, "announce", &keep, ei);
    if (rc || !keep || mi->num_tiers > 0) return rc;
    free(mi->tiers);
    mi->tiers = calloc(1, sizeof *mi->tiers);
    if (!mi->tiers) return SH_ENOMEM;
    mi->num_tiers = 1;
    return add_urls(a, "announce", &mi->tiers[0].urls, &mi->tiers[0].count, ei);
}

static int load_web_seeds(sh_metainfo *mi, const sh_bnode *ul, sh_errinfo *ei)
{
    if (ul->type != SH_BLIST && ul->type != SH_BSTR)
        return sh_errinfo_set(ei, SH_EMETAINFO, 0, "url-list is neither a string nor a list");
    return add_urls(ul, "url-list", &mi->web_seeds, &mi->num_web_seeds, ei);
}

static int load_text(const sh_bnode *root, const char *key, char **out, sh_errinfo *ei)
{
    const sh_bnode *v = sh_bdict_get(root, key);
    if (!v) return 0;
    if (v->type != SH_BSTR) return sh_errinfo_set(ei, SH_EMETAINFO, 0, "%s is not a string", key);
    *out = sh_mi_strdup(v->v.s); /* a NUL inside merely shortens this informative text */
    return *out ? 0 : SH_ENOMEM;
}

static int load_date(sh_metainfo *mi, const sh_bnode *root, sh_errinfo *ei)
{
    const sh_bnode *v = sh_bdict_get(root, "creation date");
    if (!v) return 0;
    if (v->type != SH_BINT)
        return sh_errinfo_set(ei, SH_EMETAINFO, 0, "creation date is not an integer");
    mi->creation_date = v->v.i;
    return 0;
}

int sh_mi_load_top(sh_metainfo *mi, const sh_bnode *root, sh_errinfo *ei)
{
    const sh_bnode *al = sh_bdict_get(root, "announce-list");
    const sh_bnode *a = sh_bdict_get(root, "announce");
    const sh_bnode *ul = sh_bdict_get(root, "url-list");
    int rc = al ? load_announce_list(mi, al, ei) : 0;
    if (!rc && a) rc = load_announce(mi, a, ei);
    if (!rc && ul) rc = load_web_seeds(mi, ul, ei);
    if (!rc) rc = load_text(root, "comment", &mi->comment, ei);
    if (!rc) rc = load_text(root, "created by", &mi->created_by, ei);
    if (!rc) rc = load_date(mi, root, ei);
    return rc;
}

void sh_mi_free_top(sh_metainfo *mi)
{
    for (uint32_t i = 0; i < mi->num_tiers; i++)
        free_urls(mi->tiers[i].urls, mi->tiers[i].count);
    free(mi->tiers);
    free_urls(mi->web_seeds, mi->num_web_seeds);
    free(mi->comment);
    free(mi->created_by);
    mi->tiers = NULL;
    mi->web_seeds = NULL;
    mi->comment = mi->created_by = NULL;
    mi->num_tiers = mi->num_web_seeds = 0;
}
