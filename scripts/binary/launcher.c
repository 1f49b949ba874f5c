/*
 * The first part of the single-file udev-drift binary (scripts/build-binary).
 *
 * The file is this program, statically linked, followed by a payload and a trailer. The
 * payload is a PyInstaller one-dir build of udev-drift together with the C library it was
 * built against (ld.so, libc, libm, ...: the directory _glibc/). On the first run of a
 * build the payload is unpacked, once, into a cache directory; every later run exec()s
 * the unpacked program at once. A run costs what a one-dir build costs: nothing is
 * unpacked per run (staticx and PyInstaller's one-file mode unpack on every run).
 *
 * Independence from the host's C library works as staticx does it: at unpack time the
 * program's ELF interpreter (PT_INTERP, reserved long at build time) is set to the
 * bundled ld.so, and the program's DT_RPATH names the bundled libraries. Only the kernel
 * is the host's; libraries opened by name at run time (libudev, through ctypes) come from
 * the host's library path as usual.
 *
 * Cache directory, the first usable of:
 *   $UDEV_DRIFT_CACHE_DIR (if set, only that one);
 *   /var/cache/udev-drift (root), or $XDG_CACHE_HOME/udev-drift or ~/.cache/udev-drift;
 *   ${TMPDIR:-/tmp}/udev-drift-<uid>.
 * It must be a directory owned by the user running the program and writable by no one
 * else; one subdirectory per build, named by the payload's hash, is made by an atomic
 * rename after every file in it is synced. Builds not run for PRUNE_AFTER_SECONDS are
 * removed when a new build unpacks. UDEV_DRIFT_LAUNCHER_DEBUG=1 says what happens.
 *
 * Exit status 3 (udev-drift's "runtime failure") when nothing could be run.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define TRAILER_MAGIC "udev-drift-pack1" /* 16 bytes, no NUL in the file */
#define ID_LEN 32
#define PROGRAM "udev-drift"         /* the unpacked program, at the top of the build */
#define INTERP "_glibc/ld.so"         /* the bundled ld.so, relative to the build */
#define ENTRY_DIR 'd'
#define ENTRY_FILE 'f'
#define ENTRY_LINK 'l'
#define ENTRY_END 'e'
#define FLAG_ZLIB 1
#define FLAG_INTERP 2
#define MAX_ENTRY_SIZE (512u * 1024 * 1024)
#define PRUNE_AFTER_SECONDS (7 * 24 * 3600)
#define STALE_UNPACK_SECONDS 3600
#define EXIT_FAILURE_STATUS 3
#define MAX_BASES 2

/* The last 64 bytes of the file, little-endian. */
struct trailer {
    uint64_t payload_offset;
    uint64_t payload_size;
    char id[ID_LEN];
    char magic[16];
};

/* Before each entry of the payload, little-endian, then the path (path_len bytes) and
 * the data (stored bytes: zlib-compressed, or raw; a link's data is its target). */
struct entry {
    uint8_t type;
    uint8_t flags;
    uint16_t path_len;
    uint32_t mode;
    uint64_t size;
    uint64_t stored;
};

_Static_assert(sizeof(struct trailer) == 64, "the trailer is 64 bytes");
_Static_assert(sizeof(struct entry) == 24, "an entry's header is 24 bytes");

static int debug;

static void say(const char *format, ...) {
    va_list args;
    va_start(args, format);
    fputs("udev-drift: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
}

#define DEBUG(...) \
    do { \
        if (debug) say("launcher: " __VA_ARGS__); \
    } while (0)

static int read_exact(int fd, void *buffer, size_t length, off_t offset) {
    char *at = buffer;
    while (length > 0) {
        ssize_t got = pread(fd, at, length, offset);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            if (got == 0) errno = EIO; /* the file is shorter than its trailer says */
            return -1;
        }
        at += got;
        length -= (size_t)got;
        offset += got;
    }
    return 0;
}

static int write_exact(int fd, const void *buffer, size_t length) {
    const char *at = buffer;
    while (length > 0) {
        ssize_t put = write(fd, at, length);
        if (put < 0 && errno == EINTR) continue;
        if (put < 0) return -1;
        at += put;
        length -= (size_t)put;
    }
    return 0;
}

static int fsync_path(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int result = fsync(fd);
    close(fd);
    return result;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void remove_tree(const char *path) {
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int fsync_directory(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? fsync_path(path) : 0;
}

/* A relative path without "..", "." or empty components: it stays inside the build. */
static int safe_relative(const char *path) {
    if (path[0] == '\0' || path[0] == '/') return 0;
    for (const char *part = path; *part;) {
        const char *end = strchr(part, '/');
        size_t length = end ? (size_t)(end - part) : strlen(part);
        if (length == 0 || (length == 1 && part[0] == '.') ||
            (length == 2 && part[0] == '.' && part[1] == '.'))
            return 0;
        part += length + (end ? 1 : 0);
    }
    return 1;
}

/* Point the program's PT_INTERP, reserved long at build time, at the bundled ld.so. */
static int set_interpreter(unsigned char *image, size_t size, const char *interp) {
    Elf64_Ehdr *header = (Elf64_Ehdr *)image;
    if (size < sizeof *header || memcmp(header->e_ident, ELFMAG, SELFMAG) != 0 ||
        header->e_ident[EI_CLASS] != ELFCLASS64 || header->e_phentsize != sizeof(Elf64_Phdr) ||
        header->e_phoff > size || header->e_phnum > (size - header->e_phoff) / sizeof(Elf64_Phdr)) {
        say("the bundled program is not a 64-bit ELF file: the binary is damaged");
        return -1;
    }
    Elf64_Phdr *segments = (Elf64_Phdr *)(image + header->e_phoff);
    for (int i = 0; i < header->e_phnum; i++) {
        if (segments[i].p_type != PT_INTERP) continue;
        uint64_t offset = segments[i].p_offset, room = segments[i].p_filesz;
        if (offset > size || room > size - offset) break;
        if (strlen(interp) + 1 > room) {
            say("the cache directory's path is too long (%s is %zu bytes, at most %llu): "
                "set UDEV_DRIFT_CACHE_DIR to a shorter one",
                interp, strlen(interp), (unsigned long long)room - 1);
            return -1;
        }
        memset(image + offset, 0, room);
        memcpy(image + offset, interp, strlen(interp));
        return 0;
    }
    say("the bundled program has no ELF interpreter: the binary is damaged");
    return -1;
}

/* Unpack the payload into a new directory beside `build`, then rename it to `build`. */
static int unpack(int self, const struct trailer *trailer, const char *base, const char *build) {
    char work[PATH_MAX], path[PATH_MAX], interp[PATH_MAX];
    if (snprintf(work, sizeof work, "%s/.unpack-XXXXXX", base) >= (int)sizeof work ||
        snprintf(interp, sizeof interp, "%s/" INTERP, build) >= (int)sizeof interp) {
        errno = ENAMETOOLONG;
        say("cannot unpack into %s: %m", base);
        return -1;
    }
    if (mkdtemp(work) == NULL) {
        say("cannot unpack into %s: %m", base);
        return -1;
    }
    DEBUG("unpacking into %s", work);
    mode_t old_umask = umask(077);
    off_t at = (off_t)trailer->payload_offset;
    off_t end = at + (off_t)trailer->payload_size;
    unsigned char *stored = NULL, *data = NULL;
    int ok = 0;
    for (;;) {
        struct entry entry;
        char name[PATH_MAX];
        if (at + (off_t)sizeof entry > end || read_exact(self, &entry, sizeof entry, at) < 0) {
            say("cannot read the payload of this binary: it is damaged or truncated");
            goto done;
        }
        at += sizeof entry;
        if (entry.type == ENTRY_END) break;
        if (entry.path_len == 0 || entry.path_len >= sizeof name || entry.size > MAX_ENTRY_SIZE ||
            entry.stored > MAX_ENTRY_SIZE || at + entry.path_len + (off_t)entry.stored > end ||
            read_exact(self, name, entry.path_len, at) < 0) {
            say("the payload of this binary is damaged (an entry at byte %lld)", (long long)at);
            goto done;
        }
        name[entry.path_len] = '\0';
        at += entry.path_len;
        if (!safe_relative(name) ||
            snprintf(path, sizeof path, "%s/%s", work, name) >= (int)sizeof path) {
            say("the payload of this binary is damaged (entry %s)", name);
            goto done;
        }
        free(stored);
        stored = malloc(entry.stored + 1);
        if (stored == NULL || read_exact(self, stored, entry.stored, at) < 0) {
            say("cannot read the payload of this binary: %m");
            goto done;
        }
        at += (off_t)entry.stored;
        if (entry.type == ENTRY_DIR) {
            if (mkdir(path, 0700) < 0) {
                say("cannot make %s: %m", path);
                goto done;
            }
        } else if (entry.type == ENTRY_LINK) {
            stored[entry.stored] = '\0';
            if (symlink((char *)stored, path) < 0) {
                say("cannot make the link %s: %m", path);
                goto done;
            }
        } else if (entry.type == ENTRY_FILE) {
            free(data);
            data = NULL;
            unsigned char *content = stored;
            if (entry.flags & FLAG_ZLIB) {
                uLongf length = entry.size;
                data = malloc(entry.size ? entry.size : 1);
                if (data == NULL ||
                    uncompress(data, &length, stored, entry.stored) != Z_OK || length != entry.size) {
                    say("the payload of this binary is damaged (%s does not decompress)", name);
                    goto done;
                }
                content = data;
            } else if (entry.stored != entry.size) {
                say("the payload of this binary is damaged (entry %s)", name);
                goto done;
            }
            if ((entry.flags & FLAG_INTERP) && set_interpreter(content, entry.size, interp) < 0)
                goto done;
            int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (entry.mode & 0700) | 0400);
            if (fd < 0 || write_exact(fd, content, entry.size) < 0 || fsync(fd) < 0) {
                say("cannot write %s: %m", path);
                if (fd >= 0) close(fd);
                goto done;
            }
            if (close(fd) < 0) {
                say("cannot write %s: %m", path);
                goto done;
            }
        } else {
            say("the payload of this binary is damaged (entry type %d)", entry.type);
            goto done;
        }
    }
    if (nftw(work, fsync_directory, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        say("cannot sync %s: %m", work);
        goto done;
    }
    if (rename(work, build) < 0) {
        if (errno != EEXIST && errno != ENOTEMPTY) {
            say("cannot rename %s to %s: %m", work, build);
            goto done;
        }
        DEBUG("another run unpacked %s first", build); /* theirs is as good as ours */
        remove_tree(work);
    }
    fsync_path(base);
    ok = 1;
done:
    if (!ok) remove_tree(work);
    free(stored);
    free(data);
    umask(old_umask);
    return ok ? 0 : -1;
}

/* Remove what earlier builds left: builds not run for a week, unpacks that died. */
static void prune(const char *base, const char *id) {
    DIR *dir = opendir(base);
    if (dir == NULL) return;
    time_t now = time(NULL);
    struct dirent *item;
    while ((item = readdir(dir)) != NULL) {
        const char *name = item->d_name;
        int is_build = strlen(name) == ID_LEN && strspn(name, "0123456789abcdef") == ID_LEN;
        int is_unpack = strncmp(name, ".unpack-", 8) == 0;
        if ((!is_build && !is_unpack) || strcmp(name, id) == 0) continue;
        char path[PATH_MAX];
        struct stat st;
        if (snprintf(path, sizeof path, "%s/%s", base, name) >= (int)sizeof path ||
            lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
            continue;
        if (now - st.st_mtime > (is_build ? PRUNE_AFTER_SECONDS : STALE_UNPACK_SECONDS)) {
            DEBUG("removing %s (not used since %lld)", path, (long long)st.st_mtime);
            remove_tree(path);
        }
    }
    closedir(dir);
}

/* A directory owned by us and writable by no one else; made (mode 0700) if missing. */
static int usable(const char *dir, char *why, size_t why_size) {
    struct stat st;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        snprintf(why, why_size, "%s: %s", dir, strerror(errno));
        return 0;
    }
    if (lstat(dir, &st) < 0) {
        snprintf(why, why_size, "%s: %s", dir, strerror(errno));
        return 0;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(why, why_size, "%s: not a directory", dir);
        return 0;
    }
    if (st.st_uid != geteuid()) {
        snprintf(why, why_size, "%s: owned by uid %u, not by uid %u", dir, (unsigned)st.st_uid,
                 (unsigned)geteuid());
        return 0;
    }
    if (st.st_mode & 022) {
        snprintf(why, why_size, "%s: writable by others (mode %04o)", dir,
                 (unsigned)(st.st_mode & 07777));
        return 0;
    }
    return 1;
}

/* Append a cache directory candidate; 0 (and nothing added) when the path is too long. */
static int add_base(char bases[][PATH_MAX], int *count, const char *format, ...) {
    va_list args;
    va_start(args, format);
    int length = vsnprintf(bases[*count], PATH_MAX, format, args);
    va_end(args);
    if (length < 0 || length >= PATH_MAX) return 0;
    (*count)++;
    return 1;
}

/* Run the build in `base`, unpacking it first if it is not there. Returns only on failure. */
static void run_from(const char *base, int self, const struct trailer *trailer, const char *id,
                     char **argv, char *why, size_t why_size) {
    char build[PATH_MAX], program[PATH_MAX];
    if (!usable(base, why, why_size)) return;
    if (snprintf(build, sizeof build, "%s/%s", base, id) >= (int)sizeof build ||
        snprintf(program, sizeof program, "%s/" PROGRAM, build) >= (int)sizeof program) {
        snprintf(why, why_size, "%s: path too long", base);
        return;
    }
    /* The build's time says when it last ran: prune() keeps what is in use. */
    if (utimensat(AT_FDCWD, build, NULL, 0) < 0) {
        if (errno != ENOENT) {
            snprintf(why, why_size, "%s: %s", build, strerror(errno));
            return;
        }
        if (unpack(self, trailer, base, build) < 0) {
            snprintf(why, why_size, "%s: could not unpack (see above)", base);
            return;
        }
        prune(base, id);
    }
    DEBUG("running %s", program);
    execv(program, argv);
    snprintf(why, why_size, "%s: cannot run it: %s%s", program, strerror(errno),
             errno == EACCES ? " (a file system mounted noexec?)" : "");
}

int main(int argc, char **argv) {
    (void)argc;
    const char *flag = getenv("UDEV_DRIFT_LAUNCHER_DEBUG");
    debug = flag != NULL && *flag != '\0' && strcmp(flag, "0") != 0;

    char self_path[PATH_MAX];
    ssize_t length = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (length < 0) {
        say("cannot find this program's own file through /proc/self/exe (%m): is /proc mounted?");
        return EXIT_FAILURE_STATUS;
    }
    self_path[length] = '\0';
    int self = open(self_path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    struct trailer trailer;
    if (self < 0 || fstat(self, &st) < 0) {
        say("cannot read %s: %m", self_path);
        return EXIT_FAILURE_STATUS;
    }
    if (st.st_size < (off_t)sizeof trailer ||
        read_exact(self, &trailer, sizeof trailer, st.st_size - (off_t)sizeof trailer) < 0 ||
        memcmp(trailer.magic, TRAILER_MAGIC, sizeof trailer.magic) != 0 ||
        trailer.payload_offset > (uint64_t)st.st_size ||
        trailer.payload_size > (uint64_t)st.st_size - trailer.payload_offset) {
        say("%s carries no udev-drift payload: the file is damaged or truncated", self_path);
        return EXIT_FAILURE_STATUS;
    }
    char id[ID_LEN + 1];
    memcpy(id, trailer.id, ID_LEN);
    id[ID_LEN] = '\0';
    if (strspn(id, "0123456789abcdef") != ID_LEN) {
        say("%s: the payload's name is damaged", self_path);
        return EXIT_FAILURE_STATUS;
    }

    char bases[MAX_BASES][PATH_MAX];
    int count = 0;
    const char *explicit_dir = getenv("UDEV_DRIFT_CACHE_DIR");
    if (explicit_dir != NULL && *explicit_dir != '\0') {
        /* Absolute: the program's ELF interpreter will be a path inside it. */
        char cwd[PATH_MAX];
        if (explicit_dir[0] == '/')
            add_base(bases, &count, "%s", explicit_dir);
        else if (getcwd(cwd, sizeof cwd) != NULL)
            add_base(bases, &count, "%s/%s", cwd, explicit_dir);
    } else {
        const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
        const char *tmp = getenv("TMPDIR");
        if (geteuid() == 0) {
            add_base(bases, &count, "/var/cache/udev-drift");
        } else if (xdg != NULL && xdg[0] == '/') {
            add_base(bases, &count, "%s/udev-drift", xdg);
        } else if (home != NULL && home[0] == '/') {
            char cache[PATH_MAX];
            if (snprintf(cache, sizeof cache, "%s/.cache", home) < (int)sizeof cache) {
                mkdir(cache, 0700); /* as XDG says; if it fails, the next step says why */
                add_base(bases, &count, "%s/udev-drift", cache);
            }
        }
        add_base(bases, &count, "%s/udev-drift-%u", tmp != NULL && tmp[0] == '/' ? tmp : "/tmp",
                 (unsigned)geteuid());
    }
    if (count == 0) {
        say("no cache directory: the paths are too long; set UDEV_DRIFT_CACHE_DIR");
        return EXIT_FAILURE_STATUS;
    }

    char why[MAX_BASES][PATH_MAX + 200];
    for (int i = 0; i < count; i++) {
        DEBUG("trying the cache directory %s", bases[i]);
        run_from(bases[i], self, &trailer, id, argv, why[i], sizeof why[i]);
        DEBUG("%s", why[i]);
    }
    say("cannot unpack or run this binary's program: it needs a directory of its own, owned by "
        "this user and on a file system that allows running programs");
    for (int i = 0; i < count; i++) say("  %s", why[i]);
    say("set UDEV_DRIFT_CACHE_DIR to such a directory (it holds about 35 MB)");
    return EXIT_FAILURE_STATUS;
}
