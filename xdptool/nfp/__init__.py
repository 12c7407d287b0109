"""The NFP offload target (`nfp-emu`): an emulated Netronome NFP-4000 SmartNIC.

The pipeline, one module per idea (see /work/shared/nfp-facts.md for the card):

    check      does the program fit? (verifier nfp profile, lowering refusals, window size)
    abi        the firmware's ABI: 4 threads, BPF's GPRs 0-23, what helper routines keep
    kernel_jit the default image: eBPF lowered as the driver's bpf/jit.c does (runs on the card)

  the what-if image of our own allocator (8 contexts where registers fit):
    flatten    BPF-to-BPF calls inlined, each call with its own LM frame
    analysis   pointer kinds, constants, known-zero high halves (+ the verifier's facts)
    lower      eBPF -> NFP instructions on virtual 32-bit registers
    merge      loads through one pointer share one memory read
    liveness   control flow, liveness, dead-code elimination
    regalloc   banks by 2-colouring, registers by iterated coalescing, spills to LM
    schedule   defer slots

  both:
    image      the linked image and the memory layout; firmware: the routines it calls
    executor   runs an image functionally, enforcing the ISA's rules
    card       the Agilio CX card model: stage rates, bottleneck, constants with sources
    engine     NfpEngine, the engine contract for target "nfp-emu"
    offload    the pipeline and its report; state: the NIC's state directory

The ISA itself: registers (operands), isa (instruction kinds as data), encoding
(64-bit words after nfp_asm.h), printer and assembler (the text form).
"""
