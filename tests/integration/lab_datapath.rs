//! Lab tests of the datapath (filled in once the lab exists).
