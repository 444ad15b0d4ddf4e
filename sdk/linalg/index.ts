export { svd, randomizedSvd, type Svd, type RandomizedSvdOptions } from './svd';
export { symmetricEigen, type SymmetricEigen } from './eigen';
export { mulABt, transpose, sumOfSquares, type RealArray } from './matmul';
export { orthonormalizeRows } from './orthonormalize';
export { balancedFactors, energyOf, rankForEnergy } from './factors';
export { SvdPool } from './svd-pool';
