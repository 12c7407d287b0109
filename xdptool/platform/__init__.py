"""The platform: what the kernel (and the NFP driver) define, as data.

The bottom layer: it imports nothing else of xdptool.  Every stage derives its
view from these tables instead of restating them:

    ctx.py         struct xdp_md: fields, offsets, what a read gives, who may read/write
    helpers.py     helper ids and names, XDP prototypes, map-type pairings, NFP driver column
    maps.py        map types (enum bpf_map_type) and per-CPU types
    programs.py    program types (enum bpf_prog_type)
    nfp_driver.py  the nfp offload driver's map and argument rules, with its messages

Add a helper, ctx field, map type or NFP rule here, once; the verifier, the
runtime and its JIT, the kernel engine and the NFP stages pick it up.
"""
