// Each pass module registers its pipeline step when loaded (see sdk/step/registry.ts).
import './quantize/dynamic';
import './quantize/static';
import './quantize/int4';
import './quantize/fp16';
import './prune/magnitude';
import './prune/structured';
import './low-rank';
import './recover';
