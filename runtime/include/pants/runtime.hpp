// pants/runtime.hpp: the event loop and coroutines.
#pragma once

#include <pants/cluster.hpp>
#include <pants/engine.hpp>
#include <pants/result.hpp>
#include <pants/task.hpp>
#include <pants/timer.hpp>
#include <pants/when.hpp>
