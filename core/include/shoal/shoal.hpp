// shoal: Ray's actor model for C++ on one machine, over shared memory.
// Everything public is reached through this header.
//
// Lifetimes: init() starts the session every other call needs, and shutdown() (or normal exit)
// ends it; what outlives the session (refs, handles, views) is inert or must not be used, as each
// header says.
//
// This header includes <shoal/msgpack_codec.hpp>, and with it <msgpack.hpp>, so that values of
// any type can be stored and passed. Parsing msgpack-cxx is most of the cost of including shoal: a
// translation unit that stores and passes only raw types (trivially copyable types, std::string,
// std::vector of trivially copyable elements) may include the headers below that it uses instead,
// without <shoal/msgpack_codec.hpp>.
#pragma once

#include <shoal/actor.hpp>
#include <shoal/errors.hpp>
#include <shoal/event.hpp>
#include <shoal/gather.hpp>
#include <shoal/generator.hpp>
#include <shoal/msgpack_codec.hpp>
#include <shoal/object_id.hpp>
#include <shoal/object_ref.hpp>
#include <shoal/object_ref_stream.hpp>
#include <shoal/remote.hpp>
#include <shoal/run.hpp>
#include <shoal/semaphore.hpp>
#include <shoal/session.hpp>
#include <shoal/sleep.hpp>
#include <shoal/task.hpp>
#include <shoal/view.hpp>
#include <shoal/wait_for.hpp>
