// Placeholder: the seed-notebook WebGL layout decoder (spec/FORMAT.md Appendix A) is written by the
// seed helper. Until it lands, calling it fails loudly.
import { AnspackError } from './errors.js';

export function decodeSeedLayout() {
  throw new AnspackError('BadArgument', 'not implemented');
}
