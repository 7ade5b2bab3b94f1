// shoal: Ray's actor model for C++ on one machine, over shared memory.
// Everything public is reached through this header.
#pragma once

#include <shoal/actor.hpp>
#include <shoal/errors.hpp>
#include <shoal/event.hpp>
#include <shoal/gather.hpp>
#include <shoal/object_id.hpp>
#include <shoal/object_ref.hpp>
#include <shoal/remote.hpp>
#include <shoal/run.hpp>
#include <shoal/semaphore.hpp>
#include <shoal/session.hpp>
#include <shoal/sleep.hpp>
#include <shoal/task.hpp>
#include <shoal/view.hpp>
#include <shoal/wait_for.hpp>
