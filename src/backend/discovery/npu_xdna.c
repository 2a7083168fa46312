/* AMD XDNA NPU discovery without any vendor library: a scan of PCI devices in sysfs.
 * Ids and revisions follow the upstream driver's table (drivers/accel/amdxdna,
 * amdxdna_pci_drv.c): 1022:1502 rev 0 = npu1 (XDNA1: Phoenix and Hawk Point share it),
 * 1022:17f0 rev 0x10/0x11/0x20 = npu4/5/6 (XDNA2: Strix Point, Strix Halo, Krackan). The
 * driver puts fw_version and vbnv on the PCI device (amdxdna_sysfs.c). Nominal int8 TOPS
 * are AMD's launch figures: Phoenix 10, Hawk Point 16, XDNA2 parts 50 (HX 375: 55). */
#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/discovery/disc_fs.h"

#define PCI_DEVICES "/sys/bus/pci/devices"

/* Reads a hex id attribute of one PCI device; notes a missing or malformed one. */
static int read_id(const ue_discovery_opts *opts, const char *addr, const char *attr,
                   uint32_t *out, int quiet_missing, ue_discovery_notes *notes) {
    char rel[512], buf[64];
    size_t len;
    snprintf(rel, sizeof rel, PCI_DEVICES "/%s/%s", addr, attr);
    int e = disc_read(opts, rel, buf, sizeof buf, &len);
    if (e) {
        if (!(quiet_missing && e == ENOENT))
            ue_disc_note(notes, "npu: %s/%s: %s", addr, attr, strerror(e));
        return -1;
    }
    if (memchr(buf, '\0', len) || disc_parse_hex(buf, out) != 0) {
        char shown[80];
        disc_show(shown, sizeof shown, buf, len);
        ue_disc_note(notes, "npu: %s/%s is not a hex id: \"%s\"", addr, attr, shown);
        return -1;
    }
    return 0;
}

/* The 4-digit model number after "Ryzen" ("AMD Ryzen 7 PRO 8840U" -> 8840); -1: none. */
static int ryzen_model_number(const char *model) {
    const char *p = strstr(model, "Ryzen");
    if (!p) return -1;
    for (p += 5; *p; p++) {
        if (!isdigit((unsigned char)*p) || isdigit((unsigned char)p[-1])) continue;
        int n = 0, d = 0;
        while (isdigit((unsigned char)p[d]) && d < 5) n = n * 10 + (p[d] - '0'), d++;
        if (d == 4) return n;
        p += d - 1;
    }
    return -1;
}

/* Names the chip from the PCI ids (and, for XDNA1, the CPU model); revision 0xffffffff
 * means it could not be read. */
static void identify(ue_npu_info *n, const char *cpu_model) {
    n->tops = n->tops_alt = 0;
    if (n->device_id == 0x1502) {
        snprintf(n->generation, sizeof n->generation, "XDNA1");
        /* Phoenix (Ryzen 7040) and Hawk Point (Ryzen 8040) are one die with the same PCI
         * id and revision; only the CPU's model number tells them apart. */
        int num = cpu_model ? ryzen_model_number(cpu_model) : -1;
        if (num >= 7000 && num <= 7999) {
            snprintf(n->name, sizeof n->name, "Phoenix");
            n->tops = 10;
        } else if (num >= 8000 && num <= 8999 && (num / 10) % 10 == 4) {
            snprintf(n->name, sizeof n->name, "Hawk Point");
            n->tops = 16;
        } else {
            snprintf(n->name, sizeof n->name, "Phoenix or Hawk Point");
            n->tops = 10, n->tops_alt = 16;
            snprintf(n->name_basis, sizeof n->name_basis,
                     "both use PCI id 1022:1502; the CPU model does not tell which");
            if (n->revision == 0xffffffffu)
                snprintf(n->name_basis, sizeof n->name_basis,
                         "the PCI revision could not be read; the CPU model does not tell");
            else if (n->revision != 0)
                snprintf(n->name_basis, sizeof n->name_basis,
                         "revision 0x%02x is not in the driver's table", n->revision);
            return;
        }
        snprintf(n->name_basis, sizeof n->name_basis, "from the CPU model (Ryzen %d)", num);
        return;
    }
    if (n->device_id == 0x17f0) {
        snprintf(n->generation, sizeof n->generation, "XDNA2");
        switch (n->revision) {
        case 0x10: snprintf(n->name, sizeof n->name, "Strix Point"), n->tops = 50; return;
        case 0x11: snprintf(n->name, sizeof n->name, "Strix Halo"), n->tops = 50; return;
        case 0x20: snprintf(n->name, sizeof n->name, "Krackan Point"), n->tops = 50; return;
        case 0x00:
            snprintf(n->name, sizeof n->name, "early XDNA2 (npu2)");
            snprintf(n->name_basis, sizeof n->name_basis,
                     "revision 0x00: pre-production silicon in the driver's table");
            return;
        }
        snprintf(n->name, sizeof n->name, "unknown XDNA2");
        if (n->revision == 0xffffffffu)
            snprintf(n->name_basis, sizeof n->name_basis, "the PCI revision could not be read");
        else
            snprintf(n->name_basis, sizeof n->name_basis,
                     "revision 0x%02x is not one this build knows", n->revision);
        return;
    }
    snprintf(n->generation, sizeof n->generation, "unknown");
    snprintf(n->name, sizeof n->name, "unknown AMD NPU");
    snprintf(n->name_basis, sizeof n->name_basis,
             "PCI id 1022:%04x is bound to amdxdna but not one this build knows", n->device_id);
}

/* The driver bound to the device: the name of the `driver` symlink's target. */
static void probe_driver(const ue_discovery_opts *opts, ue_npu_info *n,
                         ue_discovery_notes *notes) {
    char rel[512], path[1024], target[512];
    snprintf(rel, sizeof rel, PCI_DEVICES "/%s/driver", n->pci_addr);
    if (disc_path(opts, rel, path, sizeof path) != 0) return;
    ssize_t len = readlink(path, target, sizeof target - 1);
    if (len < 0) {
        if (errno != ENOENT)
            ue_disc_note(notes, "npu: %s/driver: %s", n->pci_addr, strerror(errno));
        return;
    }
    target[len] = '\0';
    struct stat st;
    if (stat(path, &st) != 0) {
        ue_disc_note(notes, "npu: %s/driver points nowhere (dangling link)", n->pci_addr);
        return;
    }
    const char *base = strrchr(target, '/');
    base = base ? base + 1 : target;
    disc_clean(n->driver, sizeof n->driver, base, strlen(base));
    n->driver_ok = !strcmp(n->driver, "amdxdna");
}

/* The accel minor the driver registered under the PCI device ("accel/accel0"). */
static void probe_node(const ue_discovery_opts *opts, ue_npu_info *n,
                       ue_discovery_notes *notes) {
    char rel[512], path[1024];
    snprintf(rel, sizeof rel, PCI_DEVICES "/%s/accel", n->pci_addr);
    if (disc_path(opts, rel, path, sizeof path) != 0) return;
    DIR *dir = opendir(path);
    if (!dir) {
        if (n->driver_ok)
            ue_disc_note(notes, "npu: %s: amdxdna is bound but sysfs shows no accel node",
                         n->pci_addr);
        return;
    }
    struct dirent *de;
    long minor = -1;
    while ((de = readdir(dir)) != NULL) {
        char *end;
        if (strncmp(de->d_name, "accel", 5) || !isdigit((unsigned char)de->d_name[5])) continue;
        long m = strtol(de->d_name + 5, &end, 10);
        if (!*end && m >= 0 && m < 65536 && (minor < 0 || m < minor)) minor = m;
    }
    closedir(dir);
    if (minor < 0) return;
    snprintf(n->node, sizeof n->node, "/dev/accel/accel%ld", minor);
    if (disc_path(opts, n->node, path, sizeof path) != 0) return;
    struct stat st;
    if (stat(path, &st) != 0) {
        ue_disc_note(notes, "npu: %s: %s is missing (%s)", n->pci_addr, n->node,
                     strerror(errno));
        return;
    }
    n->node_exists = 1;
    n->node_access = access(path, R_OK | W_OK) == 0;
}

static void read_text_attr(const ue_discovery_opts *opts, const char *addr, const char *attr,
                           char *dst, size_t cap, ue_discovery_notes *notes) {
    char rel[512], buf[256];
    snprintf(rel, sizeof rel, PCI_DEVICES "/%s/%s", addr, attr);
    int e = disc_read_line(opts, rel, buf, sizeof buf);
    if (e == 0) disc_clean(dst, cap, buf, strlen(buf));
    else if (e == EILSEQ) ue_disc_note(notes, "npu: %s/%s holds binary data", addr, attr);
    else if (e != ENOENT) ue_disc_note(notes, "npu: %s/%s: %s", addr, attr, strerror(e));
}

static void probe_xrt(ue_npu_report *npu) {
    /* XRT installs under /opt/xilinx/xrt, which is often not on the loader's path. */
    static const char *names[] = {"libxrt_coreutil.so.2", "libxrt_coreutil.so",
                                  "/opt/xilinx/xrt/lib/libxrt_coreutil.so.2"};
    npu->xrt_status = UE_DISC_NO_LIBRARY;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        void *h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (h) {
            npu->xrt_status = UE_DISC_OK;
            snprintf(npu->xrt_library, sizeof npu->xrt_library, "%s", names[i]);
            dlclose(h);
            return;
        }
        if (i == 0) {
            const char *msg = dlerror();
            disc_clean(npu->xrt_error, sizeof npu->xrt_error, msg ? msg : "",
                       msg ? strlen(msg) : 0);
        }
    }
}

void ue_npu_probe(const ue_discovery_opts *opts, const char *cpu_model, ue_npu_report *npu,
                  ue_discovery_notes *notes) {
    memset(npu, 0, sizeof *npu);
    char path[1024];
    if (disc_path(opts, PCI_DEVICES, path, sizeof path) == 0) {
        DIR *dir = opendir(path);
        if (!dir) {
            ue_disc_note(notes, "npu: cannot list " PCI_DEVICES ": %s", strerror(errno));
        } else {
            struct dirent *de;
            while ((de = readdir(dir)) != NULL) {
                if (de->d_name[0] == '.') continue;
                const char *addr = de->d_name;
                uint32_t vendor, device;
                /* Every PCI device is read; junk in an unrelated one is still a note. */
                if (read_id(opts, addr, "vendor", &vendor, 0, notes) != 0) continue;
                if (vendor != 0x1022) continue;
                if (read_id(opts, addr, "device", &device, 0, notes) != 0) continue;
                ue_npu_info probe;
                memset(&probe, 0, sizeof probe);
                disc_clean(probe.pci_addr, sizeof probe.pci_addr, addr, strlen(addr));
                probe.device_id = device;
                int known = device == 0x1502 || device == 0x17f0;
                if (!known) {
                    /* Other AMD functions (GPU, audio, USB) unless amdxdna claims them. */
                    probe_driver(opts, &probe, NULL);
                    if (!probe.driver_ok) continue;
                }
                if (npu->n >= UE_DISC_NPU_MAX) {
                    ue_disc_note(notes, "npu: more than %d NPUs; the rest are not listed",
                                 UE_DISC_NPU_MAX);
                    break;
                }
                ue_npu_info *n = &npu->dev[npu->n++];
                *n = probe;
                if (read_id(opts, addr, "revision", &n->revision, 0, notes) != 0)
                    n->revision = 0xffffffffu;
                identify(n, cpu_model);
                if (known) probe_driver(opts, n, notes);
                probe_node(opts, n, notes);
                read_text_attr(opts, addr, "fw_version", n->fw_version, sizeof n->fw_version,
                               notes);
                read_text_attr(opts, addr, "vbnv", n->vbnv, sizeof n->vbnv, notes);
            }
            closedir(dir);
        }
    }
    if (opts && opts->skip_libraries) {
        npu->xrt_status = UE_DISC_NOT_PROBED;
        return;
    }
    probe_xrt(npu);
}
