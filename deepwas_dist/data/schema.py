"""Column names and Arrow schemas of a deepwas_dist dataset: the one place these facts live."""
from __future__ import annotations

import pyarrow as pa

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
