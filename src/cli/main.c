/* main.c — `shoal <command> [options]`: dispatch to one file per subcommand. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

static const cli_command commands[] = {
    {"create", "make a .torrent from a file or directory", cmd_create},
    {"info", "show what a .torrent describes", cmd_info},
    {"seed", "serve a torrent's data to peers", cmd_seed},
    {"get", "download a torrent from peers", cmd_get},
    {"tracker", "run a tracker (HTTP and UDP peer discovery)", cmd_tracker},
    {"dht", "run a DHT node (a fleet's bootstrap router)", cmd_dht},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: shoal <command> [options]\n\n"
               "shoal distributes large files to many machines over BitTorrent.\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun 'shoal <command> --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("shoal %s\n", SHOAL_VERSION);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(cmd, commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "shoal: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}
