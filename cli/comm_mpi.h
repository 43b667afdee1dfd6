// The communicator of a ./train process: MPI's when an MPI launcher started it (mpirun, srun --mpi=pmix), else
// one process (src/comm.h). Only ./train links this (and libmpi); `./train` alone never calls MPI_Init, so it
// needs no MPI runtime.
#pragma once
#include <memory>

#include "src/comm.h"

namespace beop::cli {

// True when the environment is that of an MPI launcher's child (OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_SIZE).
bool launched_by_mpi();

// MPI_Init and a communicator over every rank when launched_by_mpi(), else a SingleComm.
std::unique_ptr<Comm> open_comm();

}  // namespace beop::cli
