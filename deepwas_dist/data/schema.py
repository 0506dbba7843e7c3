"""Column names and Arrow schemas of a deepwas_dist dataset: the one place these facts live."""
from __future__ import annotations

import pyarrow as pa

from ..errors import InputError, SchemaError

#: Version of the on-disk dataset layout. Readers refuse datasets written by a newer version.
SCHEMA_VERSION = 1

# ---- SNP table (one row per reference SNP, ordered by CHR then BP) -------------------------------
CHR, SNP, BP, CM, A1, A2, MAF = "CHR", "SNP", "BP", "CM", "A1", "A2", "MAF"
SNP_COLUMNS = (CHR, SNP, BP, CM, A1, A2, MAF)
SNP_TABLE_SCHEMA = pa.schema([
    pa.field(CHR, pa.int32(), nullable=False),
    pa.field(SNP, pa.string(), nullable=False),
    pa.field(BP, pa.int64(), nullable=False),
    pa.field(CM, pa.float64()),
    pa.field(A1, pa.string(), nullable=False),
    pa.field(A2, pa.string(), nullable=False),
    pa.field(MAF, pa.float64()),
])

# ---- Summary statistics, harmonised to the reference alleles --------------------------------------
Z, N = "Z", "N"
SUMSTATS_COLUMNS = (SNP, A1, A2, Z, N)
SUMSTATS_SCHEMA = pa.schema([
    pa.field(SNP, pa.string(), nullable=False),
    pa.field(Z, pa.float64(), nullable=False),
    pa.field(N, pa.float64(), nullable=False),
])

# ---- Ground truth of simulated traits ---------------------------------------------------------------
F_TRUE = "F_TRUE"   # per-SNP heritability f_j of the simulated truth

# =====================================================================================================
# On-disk dataset (DESIGN.md section 3). Layout under the dataset URL:
#
#   _manifests/<N:08d>.json                        manifest version N, published LAST by exclusive create
#                                                  (data/commit.py): a dataset without one is not a dataset
#   manifest.json                                  a copy of the newest version (the only manifest of
#                                                  datasets written before the log existed)
#   _writers/<wid>.json                            a running writer's lease (data/gc.py)
#   snps/chr=<c>/part-<wid>-<k>.parquet             SNP table + raw annotation columns (+ TRACKS)
#   sumstats/<trait>/chr=<c>/part-<wid>-<k>.parquet Z N (F_TRUE), one row per reference SNP (dense,
#                                                  row i == SNP-table row i; null Z = no z-score)
#   ld/chr=<c>/part-<wid>-<k>.parquet               one row (and one row group) per LD slice
#   ld/slice_index-<wid>.parquet                    small table: geometry and cost of every slice
#
# <wid> is the writer's random id, so files of an old dataset and of its replacement never collide and
# the manifest lists exactly the files that belong to it.
# =====================================================================================================
DATASET_FORMAT = "deepwas_dist.dataset"
MANIFEST_FILE = "manifest.json"
SNPS_DIR, SUMSTATS_DIR, LD_DIR = "snps", "sumstats", "ld"

#: Keys every manifest must have (checked on read).
MANIFEST_KEYS = ("format", "schema_version", "write_id", "build", "chromosomes", "snps", "features",
                 "tracks", "traits", "ld", "files", "bytes_written")
#: Optional manifest section of simulated datasets, "simulation": {key: value}; absent (None) in real
#: datasets and in datasets written before it existed, which stay readable (same schema version).
#:   design:  "out-of-sample" (z drawn with the LD of a GWAS cohort distinct from the reference panel)
#:            or "in-sample" (z drawn with the reference panel's own LD, the stored LD)
#:   n_panel: reference-panel individuals (the LD source; also the "ld" section's n_ref)
#:   n_gwas:  GWAS-cohort individuals whose genotypes gave z its LD (None in-sample); the traits' N
#:            column is their nominal GWAS size, not n_gwas
#:   demography: msprime population history (simulate.demography; None for a real panel's genotypes);
#:            absent in datasets written before it existed (their history was "constant")
MANIFEST_SIMULATION = "simulation"
SIMULATION_KEYS = ("design", "n_panel", "n_gwas", "demography")

# ---- SNP table on disk -----------------------------------------------------------------------------
#: Input SNP tables must have these; CHR (checked against the chromosome), CM and MAF are optional.
SNP_REQUIRED_COLUMNS = (SNP, BP, A1, A2)
#: Optional fixed-shape tensor column (K tracks x w positions) of functional-track windows, stored as one
#: of TRACK_DTYPES (the manifest's tracks "dtype"; absent = float32, as before float16 existed) and read
#: back as float32 whichever it is.
TRACKS = "TRACKS"
#: Storage dtypes of the track windows. float16 keeps ~3 significant digits: for windows normalised per
#: track (``prepare tracks``) the rounding is below 2^-11 relative (README, "Functional data").
TRACK_DTYPES = {"float32": pa.float32(), "float16": pa.float16()}
#: The largest finite float16: track values beyond it cannot be stored as float16.
FLOAT16_MAX = 65504.0
#: Column names an annotation may not take.
RESERVED_COLUMNS = frozenset(SNP_COLUMNS + (TRACKS, "Z", "N", F_TRUE))
#: Columns of an LDSC .annot file that are SNP metadata, not annotations (dropped from annotation tables).
ANNOT_METADATA_COLUMNS = (CHR, BP, SNP, CM, A1, A2, MAF)


def snp_table_schema(feature_names: list[str] | tuple[str, ...] = (),
                     tracks_shape: tuple[int, int] | None = None, tracks_dtype: str = "float32") -> pa.Schema:
    """Arrow schema of a stored SNP table: SNP_TABLE_SCHEMA + float32 annotations (+ TRACKS (K, w) of
    ``tracks_dtype``, a key of TRACK_DTYPES)."""
    fields = list(SNP_TABLE_SCHEMA) + [pa.field(a, pa.float32(), nullable=False) for a in feature_names]
    if tracks_shape is not None:
        fields.append(pa.field(TRACKS, pa.fixed_shape_tensor(TRACK_DTYPES[tracks_dtype], tuple(tracks_shape))))
    return pa.schema(fields)


# ---- Summary statistics on disk (dense: aligned row-for-row with the chromosome's SNP table) --------
SUMSTATS_REQUIRED_COLUMNS = (SNP, Z, N)


def sumstats_table_schema(has_f_true: bool = False) -> pa.Schema:
    """Arrow schema of a stored per-chromosome sumstats table. Null Z/N: the trait has no z for that SNP."""
    fields = [pa.field(SNP, pa.string(), nullable=False), pa.field(Z, pa.float64()), pa.field(N, pa.float64())]
    if has_f_true:
        fields.append(pa.field(F_TRUE, pa.float64()))
    return pa.schema(fields)


# ---- LD slice shards ----------------------------------------------------------------------------------
SLICE_ID = "SLICE_ID"
SNP_LO, SNP_HI = "SNP_LO", "SNP_HI"          # slice SNPs: rows [SNP_LO, SNP_HI) of the chromosome's table
CORE_LO, CORE_HI = "CORE_LO", "CORE_HI"      # core SNPs:  rows [CORE_LO, CORE_HI) (absolute, not slice-relative)
M_SNPS, N_CORE, RANK = "M", "N_CORE", "RANK"
LOGDET_R = "LOGDET_R"
LD_LAM, LD_Z, LD_T = "LAM", "Z_WHITE", "T_WHITE"   # lam (r,) f64; Z (m*r), T (n*r) row-major, storage dtype
LD_OMEGA = "OMEGA"                               # (r,) f64 diagonal of Z^T Z (LDSlice's rotated basis)
BYTES = "BYTES"                                # stored bytes of the slice's arrays (uncompressed)
FILE, ROW_GROUP = "FILE", "ROW_GROUP"

#: Storage dtypes of the whitened factors Z and T.
STORAGE_DTYPES = {"float16": pa.float16(), "float32": pa.float32(), "float64": pa.float64()}

LD_REQUIRED_COLUMNS = (CHR, SLICE_ID, SNP_LO, SNP_HI, CORE_LO, CORE_HI, M_SNPS, N_CORE, RANK, LOGDET_R,
                       LD_LAM, LD_OMEGA, LD_Z, LD_T)


#: Where a slice sits and how big it is: shared by LD shard rows and the slice index.
SLICE_GEOMETRY_FIELDS = [
    pa.field(CHR, pa.int32(), nullable=False),
    pa.field(SLICE_ID, pa.int32(), nullable=False),
    pa.field(SNP_LO, pa.int64(), nullable=False),
    pa.field(SNP_HI, pa.int64(), nullable=False),
    pa.field(CORE_LO, pa.int64(), nullable=False),
    pa.field(CORE_HI, pa.int64(), nullable=False),
    pa.field(M_SNPS, pa.int32(), nullable=False),
    pa.field(N_CORE, pa.int32(), nullable=False),
    pa.field(RANK, pa.int32(), nullable=False),
]


def ld_shard_schema(storage_dtype: str = "float32") -> pa.Schema:
    """Arrow schema of an LD shard (one row per slice) whose Z/T are stored as ``storage_dtype``."""
    if storage_dtype not in STORAGE_DTYPES:
        raise ValueError(f"storage dtype must be one of {sorted(STORAGE_DTYPES)}, got {storage_dtype!r}")
    vt = STORAGE_DTYPES[storage_dtype]
    return pa.schema(SLICE_GEOMETRY_FIELDS + [
        pa.field(LOGDET_R, pa.float64(), nullable=False),
        pa.field(LD_LAM, pa.large_list(pa.float64()), nullable=False),
        pa.field(LD_OMEGA, pa.large_list(pa.float64()), nullable=False),
        pa.field(LD_Z, pa.large_list(vt), nullable=False),
        pa.field(LD_T, pa.large_list(vt), nullable=False),
    ])


SLICE_INDEX_SCHEMA = pa.schema(SLICE_GEOMETRY_FIELDS + [
    pa.field(BYTES, pa.int64(), nullable=False),
    pa.field(FILE, pa.string(), nullable=False),
    pa.field(ROW_GROUP, pa.int32(), nullable=False),
])
SLICE_INDEX_COLUMNS = tuple(SLICE_INDEX_SCHEMA.names)


def check_columns(present, required, where: str, fix: str = "", stored: bool = True) -> None:
    """Raise if any of ``required`` is missing from ``present``, naming ``where`` and the fix.

    ``stored=True`` (a file of a dataset) raises SchemaError, ``stored=False`` (a caller's table) InputError.
    """
    have = set(present)
    missing = [c for c in required if c not in have]
    if missing:
        err = SchemaError if stored else InputError
        raise err(f"{where}: missing column(s) {missing} (has {sorted(have)})" + (f"; fix: {fix}" if fix else ""))
