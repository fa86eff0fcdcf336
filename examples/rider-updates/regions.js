'use strict'

const { Partitioners } = require('../..')

// The city is split into four regions around its centre, one partition each.

const CITY_CENTRE = { lat: 52.52, lng: 13.405 } // Berlin
const REGIONS = ['north', 'south', 'east', 'west']

/** north or south when the rider is further away in latitude, else east or west. */
function regionOf({ lat, lng }, centre = CITY_CENTRE) {
  const dLat = lat - centre.lat
  const dLng = (lng - centre.lng) * Math.cos((centre.lat * Math.PI) / 180)
  if (Math.abs(dLat) >= Math.abs(dLng)) return dLat >= 0 ? 'north' : 'south'
  return dLng >= 0 ? 'east' : 'west'
}

/**
 * A kafkajs partitioner: a message's region header picks its partition (north 0, south
 * 1, east 2, west 3); messages without one (restaurant updates) go by key as usual.
 */
const RegionPartitioner = () => {
  const byKey = Partitioners.DefaultPartitioner()
  return (args) => {
    const region = args.message.headers && args.message.headers.region
    const i = REGIONS.indexOf(region === undefined ? undefined : String(region))
    return i >= 0 ? i % args.partitionMetadata.length : byKey(args)
  }
}

module.exports = { CITY_CENTRE, REGIONS, regionOf, RegionPartitioner }
