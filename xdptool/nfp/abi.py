"""The firmware ABI an offloaded program runs under, from Netronome's public sources.

Every fact here is read in the public CoreNIC firmware (github Netronome/nic-firmware,
firmware/apps/nic/ebpf.uc, ebpf.h, nfd_user_cfg.h, maps/hashmap.uc) or in the
Linux driver that targets it (drivers/net/ethernet/netronome/nfp/bpf/jit.c,
main.h, nfp_net_ctrl.h); where the sources are silent the value is ours and
marked [inv].  Both images (kernel_jit.py and the allocator's what-if) are built
against this module, and the executor enforces it: a helper routine poisons the
registers it does not preserve, so an image that keeps a value there across a
call reads poison and fails loudly.

Threads: BPF runs 4 contexts per ME (ebpf.h BPF_NUM_THREADS); the ME is then in
4-context mode, 32 + 32 GPRs per thread, of which BPF owns 0-23 in each bank and
the firmware the rest (24-31).  8 contexts (16 + 16) exist only as a what-if.

Program entry (ebpf.uc ebpf_call): LM address pointer 0 = the thread's 512-byte
stack (EBPF_STACK_SIZE), also in A22 (`.reg_addr stack_addr 22 A`); LM pointer 1 =
the packet vector (`_ebpf_pkt_vec *l$index1`), whose words the JIT reads through
fixed indices (main.h enum pkt_vec): 0 the length (bits 13:0, nfp_intro masks
GENMASK(13, 0)), 2 the CTM address of the packet, 4 bit 4 = "queue selected",
6 the selected queue.  The program is loaded at NFD_BPF_START_OFF (3072) and may
hold NFD_BPF_MAX_LEN (2560) instructions; it ends by branching to
NFD_BPF_DONE_OFF (ustore address 1, the `br[ebpf_reentry#]` of global.uc) with
the verdict in A0 (ebpf.uc `.reg_addr ebpf_rc 0 A`).

Verdict word (ebpf.uc EBPF_RET_*): bit 16 pass, 17 drop, 18 redirect (out of the
ingress port: XDP_TX); bits 20-23 the statistics counter (pass, drop, redirect,
abort).  The JIT's XDP outro writes byte 0x11 / 0x22 / 0x44 / 0x82 into bits
23:16 for PASS / DROP / TX / ABORTED (jit.c nfp_outro_xdp).

Helper routines (hashmap.uc htab_map_lookup_subr_func and its update/delete
siblings): in A0 the map's table id, in B0 the return address, the key at LM
pointer 0 (HTAB_EBPF_LM_KEY_INDEX), for update the value at LM pointer 2 (jit.c
map_call_stack_common); out: R0's low word in A0 and B0, its high word in A1 and
B1 (`gpr_wrboth`).  The routine reserves GPRs 12-22 of both banks
(htab_subr_regs_alloc = htab_reserve_regs(12, 22) with `.set`/`.use`, so its own
temporaries never land there) and restores LM pointer 0: those survive, which is
exactly what the JIT keeps live (R6-R9 in 12-19, its scratch 20-21, the stack
base A22 and the packet length B22).  Everything else of BPF's 0-23 may be
clobbered (eBPF's R1-R5 are caller-saved anyway).  perf_event_output (jit.c
nfp_perf_event_output) passes the type of R1's pointer in A1; its routine is not
in the public firmware and is assumed to keep the same registers [inv].
"""

from __future__ import annotations

from dataclasses import dataclass

THREADS = 4  # ebpf.h BPF_NUM_THREADS
WHAT_IF_THREADS = 8  # 16 + 16 GPRs per thread: no shipping BPF firmware runs this
REGS_PER_BANK = {4: 32, 8: 16}  # per thread, by contexts per ME (nfp-facts)
BPF_GPRS = 24  # GPRs 0-23 of each bank belong to BPF in 4-context mode
STACK_BYTES = 512  # ebpf.uc EBPF_STACK_SIZE, nfd_user_cfg.h NFD_BPF_STACK_SZ
START_OFF = 3072  # nfd_user_cfg.h NFD_BPF_START_OFF (vNIC 0)
MAX_LEN = 2560  # nfd_user_cfg.h NFD_BPF_MAX_LEN
DONE_OFF = 1  # nfd_user_cfg.h NFD_BPF_DONE_OFF: jit.c RELO_BR_NEXT_PKT lands here

# registers with a fixed role (main.h enum static_regs)
IMMA, IMM, STACK_A, PKT_LEN_B = 20, 21, 22, 22

# the packet vector through LM pointer 1 (main.h enum pkt_vec), in 32-bit words
PV_LEN, PV_PTR, PV_QSEL_SET, PV_QSEL_VAL = 0, 2, 4, 6
PV_LEN_MASK = (1 << 14) - 1  # jit.c nfp_intro: GENMASK(13, 0)
PV_QSEL_SET_BIT = 4  # main.h PKT_VEL_QSEL_SET_BIT
RX_QUEUES = 64  # nfp_net_ctrl.h NFP_NET_RXR_MAX: jit.c nfp_queue_select's out-of-range value
PV_WORDS = 8

# verdict word (ebpf.uc EBPF_RET_*): bit -> XDP return code of the statistics bits
VERDICT_SHIFT = 16
STAT_TO_XDP = {20: 2, 21: 1, 22: 3, 23: 0}  # stats pass, drop, redirect (XDP_TX), abort

# adjust_head capability (ebpf.uc ebpf_init_cap_adjust_head(NO_META, 44, 248, 84, 112))
ADJUST_HEAD_OFF_MIN, ADJUST_HEAD_OFF_MAX = 44, 248
ADJUST_HEAD_GUARANTEED_SUB, ADJUST_HEAD_GUARANTEED_ADD = 84, 112
PACKET_START = 128  # the packet's offset in its CTM buffer [inv]: inside the window by the guarantees
ETH_HLEN = 14

# which registers survive a helper routine (hashmap.uc htab_reserve_regs(12, 22))
PRESERVED = range(12, 23)
CLOBBERED = [n for n in range(BPF_GPRS) if n not in PRESERVED]
POISON = 0xDEADBEEF  # what a clobbered register holds after a routine [inv]


@dataclass(frozen=True)
class Routine:
    """A firmware routine the program branches to (its address comes from the capability
    table the driver reads, main.c nfp_bpf_parse_cap_func; the numbers are ours [inv])."""

    name: str
    address: int
    helper: str  # platform/helpers.py name (its cost: card.py)


FW_BASE = 0x1F00  # above START_OFF + MAX_LEN, inside the 8192-word control store [inv]
ROUTINES = {r.name: r for r in (
    Routine("map_lookup", FW_BASE + 0x00, "map_lookup_elem"),
    Routine("map_update", FW_BASE + 0x10, "map_update_elem"),
    Routine("map_delete", FW_BASE + 0x20, "map_delete_elem"),
    Routine("perf_event_output", FW_BASE + 0x30, "perf_event_output"),
)}
BY_ADDRESS = {r.address: r for r in ROUTINES.values()}
BY_HELPER = {r.helper: r for r in ROUTINES.values()}
DATAPATH_DONE = "done"  # the name of DONE_OFF in listings
SYMBOLS = {DATAPATH_DONE: DONE_OFF, **{f"fw.{r.name}": r.address for r in ROUTINES.values()}}


def regs_per_bank(contexts: int) -> int:
    """Registers a thread may use per bank: BPF's 24 in 4-context mode, all 16 in the what-if."""
    return min(REGS_PER_BANK[contexts], BPF_GPRS)


def xdp_code(verdict_word: int) -> int:
    """The XDP return code the datapath acted on, from A0 at DONE_OFF."""
    for bit, code in STAT_TO_XDP.items():
        if verdict_word >> bit & 1:
            return code
    return 0
